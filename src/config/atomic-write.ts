/**
 * Replacing a file so that a crash at any moment leaves either the old or the new content,
 * never an empty or partial file: write a temp file in the same directory, fsync it, rename
 * it over the target (atomic within one file system), then fsync the directory so the rename
 * itself survives a power cut. The new file keeps the old one's mode and owner; if the owner
 * cannot be kept (not root), nothing is replaced.
 *
 * This is the one way rekey replaces a file (configs, the rotation journal, the agent's port
 * and open-buckets files, installed service files); only the agent's disk queue moves files
 * between its own directories (disk-queue.ts), and the pid file is created with O_EXCL
 * (pid-file.ts).
 *
 * @example
 *   await writeFileAtomic('/etc/datadog-agent/datadog.yaml', bytes);
 */
import {
  appendFileSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  openSync,
  promises as fs,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { rekeyError } from '../errors.js';
import { isProcessAlive } from './process-alive.js';

export interface WriteAtomicOptions {
  /** Mode for the new file; default: the existing file's mode (0o600 for a new file). */
  mode?: number;
  /** Owner for the new file; default: the existing file's owner. */
  uid?: number;
  gid?: number;
  /**
   * The content `data` was computed from. Immediately before the rename (same tick, no I/O
   * in between) the file is read again and compared: if it differs, nothing is replaced, the
   * temp file is removed and `FileChangedError` is thrown, so the caller can re-read and
   * re-apply its edit. Lines appended to the old file by a writer that opened it before the
   * rename are carried over to the new file for a quarter second after (`carryOverLateAppends`).
   */
  expectedCurrent?: Buffer;
  /**
   * With `expectedCurrent`: how long (ms) the replaced file is watched for late appends after
   * the rename (`carryOverLateAppends`); default LATE_APPEND_WINDOW_MS. 0 checks once, at the
   * rename, for a caller that makes many edits of a file nobody else writes (property tests).
   */
  lateAppendWindowMs?: number;
  /**
   * Asked synchronously immediately before the rename (no I/O in between): when it returns
   * false, nothing is replaced, the temp file is removed and the write resolves false. For a
   * writer whose newer content may have been written meanwhile (rotate/journal.ts).
   */
  replaceIf?: () => boolean;
}

/** The file is no longer the content an edit was computed from (see `expectedCurrent`). */
export class FileChangedError extends Error {
  constructor(file: string) {
    super(`${file} changed while it was being replaced`);
    this.name = 'FileChangedError';
  }
}

/** Resolves true once `file` holds `data` durably; false only when `replaceIf` said no. */
export async function writeFileAtomic(file: string, data: Buffer | string, options: WriteAtomicOptions = {}): Promise<boolean> {
  const existing = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  const mode = options.mode ?? (existing ? existing.mode & 0o7777 : 0o600);
  const uid = options.uid ?? existing?.uid;
  const gid = options.gid ?? existing?.gid;
  const dir = dirname(file);
  await removeStaleTempFiles(dir, basename(file));
  const temp = join(dir, `${tempPrefix(basename(file))}${process.pid}-${randomBytes(4).toString('hex')}`);
  // 'wx': never follow or reuse an existing path; the mode is set at creation so the secret
  // is never readable by others, even for a moment.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode & 0o700);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // after creation: the umask may have narrowed `mode`
    if (uid !== undefined && gid !== undefined && (uid !== process.getuid?.() || gid !== process.getgid?.())) {
      try {
        await handle.chown(uid, gid);
      } catch (error) {
        throw rekeyError(
          'CONFIG_WRITE_FAILED',
          { file, reason: `cannot keep its owner (uid ${uid}, gid ${gid}): run as root or as that user` },
          { cause: error },
        );
      }
    }
    await handle.sync();
    await handle.close();
    if (options.replaceIf !== undefined && !options.replaceIf()) {
      await fs.unlink(temp).catch(() => undefined);
      return false;
    }
    if (options.expectedCurrent !== undefined) {
      const replaced = renameIfUnchanged(temp, file, options.expectedCurrent);
      await carryOverLateAppends(replaced, file, options.expectedCurrent, options.lateAppendWindowMs ?? LATE_APPEND_WINDOW_MS);
    } else if (options.replaceIf !== undefined)
      renameSync(temp, file); // same tick as the check
    else await fs.rename(temp, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
  return true;
}

/**
 * `writeFileAtomic` without yielding, for a writer that must finish before the process goes
 * on (a journal saved on Ctrl-C). Mode and owner as there; no `expectedCurrent`/`replaceIf`.
 */
export function writeFileAtomicSync(file: string, data: Buffer | string, options: Pick<WriteAtomicOptions, 'mode' | 'uid' | 'gid'> = {}): void {
  let existing: { mode: number; uid: number; gid: number } | null = null;
  try {
    existing = statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const mode = options.mode ?? (existing ? existing.mode & 0o7777 : 0o600);
  const uid = options.uid ?? existing?.uid;
  const gid = options.gid ?? existing?.gid;
  const dir = dirname(file);
  const temp = join(dir, `${tempPrefix(basename(file))}${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode & 0o700);
  try {
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written);
      fchmodSync(fd, mode);
      if (uid !== undefined && gid !== undefined && (uid !== process.getuid?.() || gid !== process.getgid?.())) {
        try {
          fchownSync(fd, uid, gid);
        } catch (error) {
          throw rekeyError(
            'CONFIG_WRITE_FAILED',
            { file, reason: `cannot keep its owner (uid ${uid}, gid ${gid}): run as root or as that user` },
            { cause: error },
          );
        }
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone (renamed, or never created)
    }
    throw error;
  }
  syncDirectorySync(dir);
}

/**
 * Compare and rename with no I/O of other programs' making in between: synchronous calls, so
 * the window is a few microseconds, not an event-loop turn. Returns the replaced file, still
 * open, for `carryOverLateAppends`.
 */
function renameIfUnchanged(temp: string, file: string, expected: Buffer): number {
  const fd = openSync(file, 'r');
  try {
    if (!readFileSync(fd).equals(expected)) throw new FileChangedError(file);
    renameSync(temp, file);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * When the replaced file is watched for late appends after the rename (ms from the rename).
 * An appender (`>>`, a configuration-management run) that opened the file just before the
 * rename writes into the replaced file: the open and the write are microseconds apart, but
 * on a loaded machine the appender can be descheduled between them. CI lost 1 of 58 lines
 * when only the moment of the rename was checked; a quarter second later nobody who opened
 * the old file for one append is still writing to it.
 */
const LATE_APPEND_CHECKS_MS = [0, 5, 20, 60, 120, 250];
export const LATE_APPEND_WINDOW_MS = 250;

/**
 * Carries what was appended to the replaced file (still open as `fd`) after `expected` into
 * the new file, with O_APPEND as the appender would have, so no appended line is lost.
 * Content that no longer starts with `expected` is not an append and is left alone.
 */
async function carryOverLateAppends(fd: number, file: string, expected: Buffer, windowMs: number): Promise<void> {
  try {
    let carried = expected.length;
    let waited = 0;
    for (const at of LATE_APPEND_CHECKS_MS.filter((ms) => ms <= windowMs)) {
      if (at > waited) await new Promise((resolve) => setTimeout(resolve, at - waited));
      waited = at;
      const size = fstatSync(fd).size;
      if (size <= carried) continue;
      const whole = Buffer.alloc(size);
      const read = readSync(fd, whole, 0, size, 0);
      if (read !== size || !whole.subarray(0, expected.length).equals(expected)) return;
      appendFileSync(file, whole.subarray(carried));
      carried = size;
    }
  } finally {
    closeSync(fd);
  }
}

const tempPrefix = (name: string) => `.${name}.rekey-tmp-`;

/**
 * Deletes the temp files of earlier writes of this file whose writer is gone (killed mid-write:
 * the only way one is left). A temp file may hold a new key, so none should linger; one whose
 * process still runs belongs to a write in progress and is left alone.
 */
async function removeStaleTempFiles(dir: string, name: string): Promise<void> {
  const prefix = tempPrefix(name);
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-[0-9a-f]+$/.exec(entry.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || isProcessAlive(pid)) continue;
    await fs.unlink(join(dir, entry)).catch(() => undefined);
  }
}

/** As `syncDirectory`, without yielding. */
export function syncDirectorySync(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a directory makes a rename in it durable; Windows cannot open directories, skip. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
