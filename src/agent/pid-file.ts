/**
 * The agent's pid file, `<run path>/rekey-agent.pid`: read by the init script, by
 * `rekey agent restart --service rekey-agent` (which sends SIGHUP) and by `status`.
 *
 * It is also a lock: two agents on one run path would ship one queue twice. So it is a pid
 * lock (src/config/pid-lock.ts: created whole with link(2), so of two agents starting at once
 * exactly one gets it and nobody reads it empty), taken over when the pid it names no longer
 * runs a rekey-agent (killed, or a recycled pid).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rekeyError } from '../errors.js';
import { readPid, tryPidLock } from '../config/pid-lock.js';
import { isProcessAlive } from '../config/process-alive.js';

export { readPid };

export const PID_FILE_NAME = 'rekey-agent.pid';

export function pidFilePath(runPath: string): string {
  return join(runPath, PID_FILE_NAME);
}

export class PidFile {
  private constructor(
    readonly path: string,
    private readonly lock: { release: () => void },
  ) {}

  /** Creates the pid file, or throws AGENT_ALREADY_RUNNING naming the agent that holds it. */
  static async acquire(runPath: string): Promise<PidFile> {
    const path = pidFilePath(runPath);
    const lock = tryPidLock(path, { isHolderAlive: isAgentRunning, mode: 0o644, sync: true });
    if ('heldBy' in lock) throw rekeyError('AGENT_ALREADY_RUNNING', { pid: lock.heldBy, runPath });
    return new PidFile(path, lock);
  }

  /** Deletes the pid file if it is still ours. */
  async release(): Promise<void> {
    this.lock.release();
  }
}

/** True when `pid` is alive and (where /proc tells) is a rekey-agent, not a recycled pid. */
export function isAgentRunning(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /rekey-agent|agent[/\\]main\.[jt]s/.test(cmdline);
  } catch {
    return true; // no /proc: trust kill(0)
  }
}
