/**
 * `rekey snippet ansible|chef|puppet|helm|env`: the setting that carries the API key in each
 * configuration-management tool. The key comes from stdin or an environment variable and is
 * printed only with --reveal.
 */
import { Argument, type Command } from 'commander';
import { rekeyError } from '../errors.js';
import { readStdin } from './run-cli.js';

export function registerSnippetCommand(program: Command): void {
  program
    .command('snippet')
    .description('Print the API key setting for Ansible, Chef, Puppet, Helm or the environment (masked unless --reveal)')
    .addArgument(new Argument('<tool>', 'the tool').choices(['ansible', 'chef', 'puppet', 'helm', 'env']))
    .option('--key-stdin', 'read the key from stdin')
    .option('--key-env <VAR>', 'read the key from this environment variable')
    .option('--reveal', 'print the key itself (default: masked to its last 4)')
    .action(async (tool: 'ansible' | 'chef' | 'puppet' | 'helm' | 'env', options: { keyStdin?: boolean; keyEnv?: string; reveal?: boolean }) => {
      const { readKeyInput } = await import('../config/key-input.js');
      const { parseKey } = await import('../keys/key-format.js');
      const { renderSnippet } = await import('../config/snippets.js');
      const key = await readKeyInput(options, readStdin);
      if (key !== null) {
        const check = parseKey(key, 'api');
        if (!check.ok) throw rekeyError('MALFORMED_KEY', { detail: check.message });
      } else if (options.reveal) {
        throw rekeyError('USAGE', { detail: '--reveal needs the key: give it with --key-stdin or --key-env VAR' });
      }
      process.stdout.write(renderSnippet(tool, key, Boolean(options.reveal)));
    });
}
