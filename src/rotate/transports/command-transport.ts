/**
 * The `command` transport: the user's own configuration management (Ansible, Chef, Puppet …)
 * sets the key. The command gets the new key in the environment variable REKEY_NEW_API_KEY
 * (never in argv, which every user on the machine can read) and REKEY_HOST with the host's
 * name; it is expected to write the config and restart the agent itself. `rollback`, when
 * given, runs when the host fails verification (it gets no key: restoring is its job).
 */
import { readFileSync } from 'node:fs';
import { readFileSettings } from '../../config/agent-settings.js';
import type { CommandHost } from '../inventory.js';
import { failureDetail, runProcess } from './run-process.js';
import type { Transport } from './transport.js';

export class CommandTransport implements Transport {
  constructor(private readonly host: CommandHost) {}

  async deploy(key: string): Promise<{ backup: undefined }> {
    await this.run(this.host.command, { REKEY_NEW_API_KEY: key }, 'the deploy command');
    return { backup: undefined };
  }

  /** The command restarts the agent itself. */
  async restart(): Promise<void> {}

  async rollback(): Promise<void> {
    if (!this.host.rollback) throw new Error('no rollback command in the inventory; restore this host by hand');
    await this.run(this.host.rollback, {}, 'the rollback command');
  }

  async configuredLast4(): Promise<string | undefined> {
    if (this.host.config === undefined) return undefined;
    const settings = readFileSettings(readFileSync(this.host.config, 'utf8'), this.host.config);
    return settings.apiKey ? settings.apiKey.slice(-4) : undefined;
  }

  private async run(argv: string[], extraEnv: Record<string, string>, what: string): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, REKEY_HOST: this.host.name, ...extraEnv };
    // Our own credentials are not the command's business (and DD_API_KEY is the OLD key).
    delete env['DD_APP_KEY'];
    delete env['DD_API_KEY'];
    const result = await runProcess(argv, { env, cwd: this.host.cwd, timeoutMs: this.host.timeoutMs });
    if (result.code !== 0) throw new Error(`${what} (${argv[0]}) failed: ${failureDetail(result)}`);
  }
}
