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
import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, openSync, readSync, rmSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { rekeyError } from '../errors.js';
import { fileKind } from './file-kind.js';
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

/**
 * A `.takeover` guard is held for the microseconds of one takeover. One older than this was left
 * by a process killed while holding it, even if its pid now names a live process (reused after a
 * reboot, on a persistent run path or spool): removed, else every start waited 5 s and failed
 * for as long as that unrelated process ran (a hostile try, 2026-12-02).
 */
const GUARD_LEFT_BEHIND_MS = 2_000;

/** A pid is at most 7 digits (pid_max ≤ 2^22); more bytes than this is not a pid file. */
const PID_FILE_MAX_BYTES = 64;

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
      assertLockable(file);
      // Left by a process that was killed (or by this pid's earlier life), or empty: stale.
      if (takeOver(file, temp, mode, isHolderAlive)) {
        if (createWhole(temp, file, mode)) return { release: () => releaseIfOurs(file) };
        continue;
      }
      // Another process is taking it over: wait for it to finish, then look again.
      sleepSync(Math.min(2 ** round, 50));
    }
  } finally {
    rmSync(temp, { force: true });
  }
  throw rekeyError('LOCK_FILE_UNUSABLE', {
    path: file,
    reason: `another process kept taking it over for ${TAKEOVER_PATIENCE_MS} ms (${file}.takeover names pid ${readPid(`${file}.takeover`) ?? 'none'})`,
  });
}

/**
 * The pid a lock file names; null when it is gone, empty, not a regular file or holds something
 * else. Reads at most PID_FILE_MAX_BYTES, and opens with O_NONBLOCK: a FIFO at the lock's name
 * hung every start in open(), a symlink to /dev/zero read gigabytes (hostile tries, 2026-12-02).
 */
export function readPid(file: string): number | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  let text: string;
  try {
    if (!fstatSync(fd).isFile()) return null;
    const buffer = Buffer.alloc(PID_FILE_MAX_BYTES + 1);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    if (length > PID_FILE_MAX_BYTES) return null;
    text = buffer.toString('utf8', 0, length).trim();
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
  return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null;
}

/**
 * Throws LOCK_FILE_UNUSABLE when `file` is something no process could have left as a lock: a
 * directory, a FIFO, a socket, a device (itself or through a symlink). Removing it is the
 * operator's call; before, a directory stopped the start with a raw ERR_FS_EISDIR and a stack,
 * and a FIFO hung it forever.
 */
function assertLockable(file: string): void {
  let stats: Stats;
  try {
    stats = lstatSync(file);
    if (stats.isSymbolicLink()) return; // a symlink is removed like a stale lock, whatever it points to
  } catch {
    return; // gone meanwhile
  }
  if (!stats.isFile()) throw rekeyError('LOCK_FILE_UNUSABLE', { path: file, reason: `${fileKind(stats)}, not a regular file; remove it` });
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
    assertLockable(guard);
    const taker = readPid(guard);
    if (taker !== null && taker !== process.pid && isHolderAlive(taker) && !leftBehind(guard)) return false;
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

/**
 * A guard older than GUARD_LEFT_BEHIND_MS: its holder was killed holding it (a takeover lasts
 * microseconds). Its ctime, not its mtime: the guard is a link of a temporary file written
 * when its process began to try, maybe seconds before; link(2) sets the ctime.
 */
function leftBehind(guard: string): boolean {
  try {
    return Date.now() - lstatSync(guard).ctimeMs > GUARD_LEFT_BEHIND_MS;
  } catch {
    return false; // gone: released meanwhile
  }
}

/** Waits without returning to the event loop: a takeover lasts microseconds. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function releaseIfOurs(file: string): void {
  if (readPid(file) === process.pid) rmSync(file, { force: true });
}
