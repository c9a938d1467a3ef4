/**
 * The agent's pid file, `<run path>/rekey-agent.pid`: read by the init script, by
 * `rekey agent restart --service rekey-agent` (which sends SIGHUP) and by `status`.
 *
 * It is also a lock: two agents on one run path would ship one queue twice. A pid file left
 * by a killed agent is taken over when its pid no longer runs a rekey-agent.
 */
import { readFileSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rekeyError } from '../errors.js';

export const PID_FILE_NAME = 'rekey-agent.pid';

export function pidFilePath(runPath: string): string {
  return join(runPath, PID_FILE_NAME);
}

export class PidFile {
  private constructor(readonly path: string) {}

  static async acquire(runPath: string): Promise<PidFile> {
    const path = pidFilePath(runPath);
    const existing = await readPid(path);
    if (existing !== null && existing !== process.pid && isAgentRunning(existing)) {
      throw rekeyError('AGENT_ALREADY_RUNNING', { pid: existing, runPath });
    }
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${process.pid}\n`, { mode: 0o644 });
    await rename(tmp, path);
    return new PidFile(path);
  }

  /** Deletes the pid file if it is still ours. */
  async release(): Promise<void> {
    if ((await readPid(this.path)) === process.pid) await unlink(this.path).catch(() => undefined);
  }
}

export async function readPid(path: string): Promise<number | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  const pid = text === null ? NaN : Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** True when `pid` is alive and (where /proc tells) is a rekey-agent, not a recycled pid. */
export function isAgentRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /rekey-agent|agent[/\\]main\.[jt]s/.test(cmdline);
  } catch {
    return true; // no /proc: trust kill(0)
  }
}
