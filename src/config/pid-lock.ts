/**
 * A lock file holding the pid of the process that holds it: created exclusively (`wx`), removed
 * on release, and taken over when the process it names no longer runs (killed while holding it).
 * Used where one directory must have one worker at a time across processes: `rekey upstream
 * drain` on a spool, and the recovery of a relay spool when a node starts.
 *
 * Not covered: two processes finding the same stale lock in the same instant can both take it
 * over (each removes it and creates its own), and so can one that reads the file in the
 * microseconds between its creation and its pid's write. Reaching either needs two starts
 * racing within microseconds.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isProcessAlive } from './process-alive.js';

export type PidLock = { release: () => void } | { heldBy: number };

/** Takes `file`, or says which live process holds it. */
export function tryPidLock(file: string): PidLock {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return { release: () => rmSync(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let pid: number;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw error;
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) return { heldBy: pid };
    // Left by a process that was killed (or by this pid's earlier life), or empty: a creator
    // killed between creating and writing it — or, for an instant, one writing it now.
    rmSync(file, { force: true });
  }
  throw new Error(`rekey: could not take the lock ${file}`);
}
