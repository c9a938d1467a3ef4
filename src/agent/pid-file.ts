/**
 * The agent's pid file, `<run path>/rekey-agent.pid`: read by the init script, by
 * `rekey agent restart --service rekey-agent` (which sends SIGHUP) and by `status`.
 *
 * It is also a lock: two agents on one run path would ship one queue twice. So it is created
 * exclusively — written whole to a temp file, then hard-linked to its name, which fails if the
 * name exists (O_EXCL semantics, and never an empty pid file for a moment) — and of two agents
 * starting at once exactly one gets it. A pid file left by a killed agent (its pid no longer
 * runs a rekey-agent) is taken over: moved aside, checked to still be that stale one, removed,
 * and the exclusive creation tried again.
 */
import { readFileSync } from 'node:fs';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { rekeyError } from '../errors.js';
import { isProcessAlive } from '../config/process-alive.js';

export const PID_FILE_NAME = 'rekey-agent.pid';

export function pidFilePath(runPath: string): string {
  return join(runPath, PID_FILE_NAME);
}

export class PidFile {
  private constructor(readonly path: string) {}

  /** Creates the pid file, or throws AGENT_ALREADY_RUNNING naming the agent that holds it. */
  static async acquire(runPath: string): Promise<PidFile> {
    const path = pidFilePath(runPath);
    const tmp = `${path}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // A few rounds: each lost round means another agent created or removed the file meanwhile.
      for (let round = 0; round < 5; round++) {
        if (await createExclusively(tmp, path)) return new PidFile(path);
        const existing = await readPid(path);
        if (existing === process.pid) return new PidFile(path);
        if (existing !== null && isAgentRunning(existing)) throw rekeyError('AGENT_ALREADY_RUNNING', { pid: existing, runPath });
        await removeStale(path, existing);
      }
      const holder = await readPid(path);
      throw rekeyError('AGENT_ALREADY_RUNNING', { pid: holder ?? 0, runPath });
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Deletes the pid file if it is still ours. */
  async release(): Promise<void> {
    if ((await readPid(this.path)) === process.pid) await unlink(this.path).catch(() => undefined);
  }
}

/** link(2) fails with EEXIST when `path` exists: the exclusive creation. */
async function createExclusively(tmp: string, path: string): Promise<boolean> {
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes the pid file only if it still names `stalePid` (null: empty or unreadable): moved
 * aside first, so a file another agent created meanwhile is put back, not deleted.
 */
async function removeStale(path: string, stalePid: number | null): Promise<void> {
  const aside = `${path}.${process.pid}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it
    throw error;
  }
  const moved = await readPid(aside);
  if (moved !== stalePid && moved !== null) {
    await link(aside, path).catch(() => undefined); // another agent's fresh file: put it back
  }
  await unlink(aside).catch(() => undefined);
}

export async function readPid(path: string): Promise<number | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  const pid = text === null ? NaN : Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
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
