/**
 * `rekey config show | set-api-key | validate`: the Datadog Agent config file on this host.
 * The implementation (src/config) is imported inside each action so other commands do not
 * load the YAML library.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';
import { readStdin } from './run-cli.js';

interface FileOption {
  file?: string;
  json?: boolean;
}

async function resolveFile(file: string | undefined): Promise<string> {
  if (file !== undefined) return file;
  const { defaultConfigPaths, findDefaultConfig } = await import('../config/default-paths.js');
  const found = findDefaultConfig();
  if (found === null) throw rekeyError('CONFIG_NOT_FOUND', { tried: defaultConfigPaths().join(', ') });
  return found;
}

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('Read, validate and change the API key in a Datadog Agent config file (datadog.conf or datadog.yaml)');

  config
    .command('show')
    .description('Where the API key comes from (file, environment, secret handle), masked to its last 4, with site, URL, hostname and problems')
    .option('--file <path>', "the config file (default: the platform's Agent config)")
    .option('--json', 'machine-readable output')
    .action(async (options: FileOption) => {
      const { showConfig } = await import('../config/config-show.js');
      const { defaultConfigPaths, findDefaultConfig } = await import('../config/default-paths.js');
      const file = options.file ?? findDefaultConfig();
      const report = await showConfig(file, process.env);
      const { text, ...json } = report;
      if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      else {
        if (file === null) process.stdout.write(`No Agent config file found (looked for ${defaultConfigPaths().join(', ')}); showing the environment only.\n`);
        process.stdout.write(text);
      }
    });

  config
    .command('set-api-key')
    .description('Write "api_key: KEY" into the config file, changing no other byte; atomic, with a timestamped backup')
    .option('--file <path>', "the config file (default: the platform's Agent config)")
    .option('--key-stdin', 'read the key from stdin')
    .option('--key-env <VAR>', 'read the key from this environment variable')
    .option('--dry-run', 'print the diff (keys masked) and change nothing')
    .option('--force', 'replace an ENC[…] secret handle with a plain key')
    .option('--add-endpoint-key <url>', 'instead of replacing api_key, add the key under additional_endpoints[url] beside it (overlap period)')
    .option('--remove-key', 'instead of setting api_key, remove the key from additional_endpoints (end of the overlap)')
    .option('--no-backup', 'do not keep a backup of the old file')
    .option('--no-checksum', "accept a 32-hex key without rekey's checksum (a key issued by Datadog itself)")
    .option('--json', 'machine-readable output')
    .action(
      async (
        options: FileOption & {
          keyStdin?: boolean;
          keyEnv?: string;
          dryRun?: boolean;
          force?: boolean;
          addEndpointKey?: string;
          removeKey?: boolean;
          backup: boolean;
          checksum: boolean;
        },
      ) => {
        if (options.addEndpointKey !== undefined && options.removeKey) {
          throw rekeyError('USAGE', { detail: 'give --add-endpoint-key or --remove-key, not both' });
        }
        const { readKeyInput } = await import('../config/key-input.js');
        const key = await readKeyInput(options, readStdin);
        if (key === null) {
          throw rekeyError('USAGE', {
            detail: 'give the key with --key-stdin or --key-env VAR (never as an argument, which other users can see)',
          });
        }
        const file = await resolveFile(options.file);
        const editor = await import('../config/config-file-editor.js');
        const { last4 } = await import('../keys/key-format.js');
        const writeOptions = { force: options.force, dryRun: options.dryRun, backup: options.backup, checksum: options.checksum };
        const result =
          options.addEndpointKey !== undefined
            ? await editor.addEndpointKeyInFile(file, options.addEndpointKey, key, writeOptions)
            : options.removeKey
              ? await editor.removeEndpointKeyInFile(file, key, writeOptions)
              : await editor.setApiKeyInFile(file, key, writeOptions);
        if (options.json) {
          const { diff, previousKey, ...rest } = result;
          const json = { ...rest, dryRun: Boolean(options.dryRun), keyLast4: last4(key), previousKeyLast4: previousKey ? last4(previousKey) : null, diff };
          process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
          return;
        }
        const what =
          options.addEndpointKey !== undefined
            ? `key ending in ${last4(key)} added under additional_endpoints for ${options.addEndpointKey}`
            : options.removeKey
              ? `key ending in ${last4(key)} removed from additional_endpoints`
              : `api_key set to the key ending in ${last4(key)}`;
        if (!result.changed) {
          process.stdout.write(`${result.file}: already up to date (${what.replace(/^api_key set to/, 'api_key is')}); nothing written\n`);
          return;
        }
        if (options.dryRun) {
          process.stdout.write(result.diff);
          process.stdout.write(`dry run: ${what} at line ${result.line} of ${result.file}; nothing written\n`);
          return;
        }
        process.stdout.write(`${result.file}: ${what} (line ${result.line})\n`);
        if (result.backupPath) process.stdout.write(`backup of the old file: ${result.backupPath}\n`);
        if (options.addEndpointKey === undefined && !options.removeKey) {
          // After an overlap period the new key is often still listed as an extra endpoint key,
          // which would make the agent send everything twice.
          const { loadAgentSettings } = await import('../config/agent-settings.js');
          const extra = Object.entries(loadAgentSettings({ file: result.file, env: {} }).additionalEndpoints)
            .filter(([, keys]) => keys.includes(key))
            .map(([url]) => url);
          if (extra.length > 0) {
            process.stdout.write(
              `note: this key is also under additional_endpoints for ${extra.join(', ')}; end the overlap with: rekey config set-api-key --remove-key --key-stdin\n`,
            );
          }
        }
        process.stdout.write('restart the agent to use it: rekey agent restart\n');
      },
    );

  config
    .command('validate')
    .description('Report quoted keys, missing spaces, tabs, misplaced or duplicate api_key lines, placeholders, bad checksums and a world-readable file')
    .option('--file <path>', "the config file (default: the platform's Agent config)")
    .option('--json', 'machine-readable output')
    .action(async (options: FileOption) => {
      const file = await resolveFile(options.file);
      const { validateConfigFile } = await import('../config/config-validator.js');
      const report = await validateConfigFile(file);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ...report, ok: report.problems.length === 0 }, null, 2)}\n`);
      } else {
        const name = report.format === 'v5' ? 'Agent v5 datadog.conf' : 'Agent v6/7 datadog.yaml';
        process.stdout.write(`${report.file} (${name})\n`);
        for (const problem of report.problems) {
          const where = problem.line === null ? 'file' : `line ${problem.line}`;
          process.stdout.write(`  ${where}: ${problem.message}\n    fix: ${problem.fix}\n`);
        }
        const count = report.problems.length;
        process.stdout.write(count === 0 ? 'no problems found\n' : `${count} problem${count === 1 ? '' : 's'} found\n`);
      }
      if (report.problems.length > 0) process.exitCode = 1;
    });
}
