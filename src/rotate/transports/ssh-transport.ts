/**
 * The `ssh` transport: the system `ssh` client (so ~/.ssh/config, agents and known_hosts work
 * as the operator expects) in batch mode, running a small POSIX sh/awk program on the remote
 * (see remote-set-key-script.ts). The key travels on ssh's stdin, never in a command line.
 */
import type { SshHost } from '../inventory.js';
import { REMOTE_SET_KEY_SCRIPT } from './remote-set-key-script.js';
import { restartShellCommand, shellQuote } from './restart-agent.js';
import { failureDetail, runProcess } from './run-process.js';
import { backupPathFor } from './local-transport.js';
import type { Transport } from './transport.js';

export class SshTransport implements Transport {
  constructor(private readonly host: SshHost) {}

  /** The ssh argv up to and including the destination; the remote command follows. */
  sshArgv(): string[] {
    const h = this.host;
    const argv = ['ssh', '-T', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=15'];
    argv.push('-o', `StrictHostKeyChecking=${h.strictHostKeyChecking}`);
    if (h.knownHosts !== undefined) argv.push('-o', `UserKnownHostsFile=${h.knownHosts}`);
    if (h.identityFile !== undefined) argv.push('-i', h.identityFile, '-o', 'IdentitiesOnly=yes');
    for (const option of h.sshOptions) argv.push('-o', option);
    argv.push('-p', String(h.port));
    if (h.user !== undefined) argv.push('-l', h.user);
    argv.push('--', h.host);
    return argv;
  }

  private async remote(action: string, backup: string, input: string | undefined, step: string): Promise<string> {
    const command = ['sh', '-c', REMOTE_SET_KEY_SCRIPT, 'rekey-rotate', this.host.config, backup, action].map(shellQuote).join(' ');
    const result = await runProcess([...this.sshArgv(), command], { input: input ?? '', timeoutMs: this.host.timeoutMs });
    if (result.code !== 0) throw new Error(`${step} over ssh to ${this.host.host}:${this.host.port}: ${failureDetail(result)}`);
    return result.stdout;
  }

  async deploy(key: string, backupTag: string): Promise<{ backup: string }> {
    const backup = backupPathFor(this.host.config, backupTag);
    await this.remote(this.host.setKeyWith === 'rekey' ? 'deploy-rekey' : 'deploy', backup, `${key}\n`, 'setting the key');
    return { backup };
  }

  async restart(): Promise<void> {
    const command = restartShellCommand(this.host.restart);
    if (command === '') return;
    const result = await runProcess([...this.sshArgv(), command], { timeoutMs: this.host.timeoutMs });
    if (result.code !== 0) throw new Error(`restarting the agent over ssh (${command}): ${failureDetail(result)}`);
  }

  async rollback(backup: string | undefined): Promise<void> {
    if (backup === undefined) throw new Error(`no backup of ${this.host.config} to restore`);
    await this.remote('rollback', backup, undefined, 'restoring the backup');
  }

  async configuredLast4(): Promise<string | undefined> {
    const out = (await this.remote('last4', '-', undefined, 'reading the config')).trim();
    return out === '' ? undefined : out;
  }
}
