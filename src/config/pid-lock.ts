/**
 * A lock file holding the pid of the process that holds it: the one way rekey keeps a directory
 * to one process at a time — `rekey upstream drain` on a spool, the recovery of a relay spool
 * when a node starts, and the agent's pid file (src/agent/pid-file.ts).
 *
 * Created whole: the pid is written to a temporary file first, which is then hard-linked to the
 * lock's name; link(2) fails when the name exists, so of two processes exactly one creates it,
 * and nobody ever reads it empty. A lock naming a process that no longer runs (killed while
 * holding it) is taken over: removed by the one process holding `<lock>.takeover` (a pid lock
 * too) once it has read the lock again under it, then created anew. Nobody else removes a
 * lock: its holder releases it.
 *
 * Why: the first version created the file with O_EXCL and wrote the pid after, and removed a
 * stale lock with no guard. Eight processes racing on one lock then held it two at a time (1 run
 * in 4 of the test in pid-lock.test.ts): one read the lock between another's creation and its
 * write and took it for stale, or removed the lock another had just created in place of a stale
 * one. Moving a stale lock aside and putting it back if it had changed (the agent's pid file
 * did that) still failed the test in 1 run of 4: a third process created the lock while it was
 * aside.
 *
 * Not covered: a process killed within the microseconds it holds `.takeover`, while two others
 * race to remove that guard; a file system without hard links, where the lock is created with
 * O_EXCL (and may be read empty for an instant).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { isProcessAlive } from './process-alive.js';

export type PidLock = { release: () => void } | { heldBy: number };

export interface PidLockOptions {
  /** Whether the process a lock names still holds it (default: it runs). The agent also checks it is an agent. */
  isHolderAlive?: (pid: number) => boolean;
  /** Mode of the lock file (default 0o600). */
  mode?: number;
  /** fsync the pid before the lock takes its name (default false). */
  sync?: boolean;
}

/** How long a process waits for another one's takeover of a stale lock before it gives up. */
const TAKEOVER_PATIENCE_MS = 5_000;

/** Link errors of file systems without hard links: the lock falls back to an O_EXCL creation. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Takes `file`, or says which live process holds it. */
export function tryPidLock(file: string, options: PidLockOptions = {}): PidLock {
  const isHolderAlive = options.isHolderAlive ?? isProcessAlive;
  const mode = options.mode ?? 0o600;
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writePid(temp, mode, options.sync === true);
  try {
    const deadline = Date.now() + TAKEOVER_PATIENCE_MS;
    for (let round = 0; round === 0 || Date.now() < deadline; round++) {
      if (createWhole(temp, file, mode)) return { release: () => releaseIfOurs(file) };
      const holder = readPid(file);
      if (holder !== null && holder !== process.pid && isHolderAlive(holder)) return { heldBy: holder };
      // Left by a process that was killed (or by this pid's earlier life), or empty: stale.
      if (takeOver(file, temp, mode, isHolderAlive)) continue;
      // Another process is taking it over: wait for it to finish, then look again.
      sleepSync(Math.min(2 ** round, 50));
    }
  } finally {
    rmSync(temp, { force: true });
  }
  throw new Error(`rekey: could not take the lock ${file}: another process kept taking it over for ${TAKEOVER_PATIENCE_MS} ms`);
}

/** The pid a lock file names; null when it is gone, empty or holds something else. */
export function readPid(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null;
}

function writePid(file: string, mode: number, sync: boolean): void {
  const fd = openSync(file, 'wx', mode);
  try {
    writeSync(fd, `${process.pid}\n`);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** link(2) fails with EEXIST when the name exists: the exclusive creation, of a file already whole. */
function createWhole(temp: string, file: string, mode: number): boolean {
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  }
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes a stale lock under `<file>.takeover`, itself a pid lock: only its holder removes the
 * lock, and only if it still names no live process, so a lock a live process has just created
 * is never touched. False when another process holds the guard (it is taking the lock over).
 */
function takeOver(file: string, temp: string, mode: number, isHolderAlive: (pid: number) => boolean): boolean {
  const guard = `${file}.takeover`;
  if (!createWhole(temp, guard, mode)) {
    const taker = readPid(guard);
    if (taker !== null && taker !== process.pid && isProcessAlive(taker)) return false;
    // A guard left by a process killed within its few microseconds of taking over (the gap above).
    rmSync(guard, { force: true });
    return true;
  }
  try {
    const holder = readPid(file);
    if (holder === null || holder === process.pid || !isHolderAlive(holder)) rmSync(file, { force: true });
  } finally {
    releaseIfOurs(guard);
  }
  return true;
}

/** Waits without returning to the event loop: a takeover lasts microseconds. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function releaseIfOurs(file: string): void {
  if (readPid(file) === process.pid) rmSync(file, { force: true });
}
