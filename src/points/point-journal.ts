/**
 * The intake journal: append-only files in the data directory where each write batch is
 * recorded — one write() — before the intake acknowledges it. The batches are saved into the
 * database about once a second (point-writer.ts), and a journal file is deleted once every
 * batch in it is saved. Time-series databases keep a write-ahead log in front of their
 * blocks for the same reason (Prometheus, InfluxDB).
 *
 * Why: committing each batch to SQLite costs several WAL frames, two write() calls each; that
 * held the intake well under the bare-parser baseline (bench/intake-throughput.ts, measured
 * against this journal in the same run: docs/operations.md#durability). A journal append is
 * one call whatever the batch holds, and the save writes a second's batches as one row per
 * metric.
 *
 * Durability (docs/operations.md#durability): with `sync: false` (policy `process`) an
 * acknowledged batch is in the operating system's page cache, so it survives the process
 * crashing or being killed; with `sync: true` (policy `power`) each append is followed by
 * fdatasync() — one per batch, so concurrent requests share it — and each new file's
 * directory entry is synced too, so it also survives a power cut.
 *
 * As trustworthy as SQLite's own log under faults (issue 14):
 *   - a failed or short write (disk full, inode or quota exhaustion, EIO) is truncated back to
 *     the last good record before anything else is appended; if even that fails, nothing more
 *     is appended to the file until it succeeds;
 *   - a failed rotation keeps the file being appended to open: the journal never holds a
 *     closed descriptor number (which the process would give to the next socket it accepts);
 *   - recovery skips a torn or corrupt record and keeps reading after it, and reports what it
 *     dropped.
 *
 * File format: an 8-byte header `"RKJ2" | salt` (4 random bytes, written with the first record), then records
 * `salt | u32 length | u32 CRC-32 (seeded with the salt) of length ‖ body | body` (body:
 * batch-record.ts). The salt makes each record self-delimiting: after a torn record, recovery
 * looks for the next salt and checks its CRC. A client cannot forge a record inside its own
 * payload, because it does not know the file's salt. Files of the earlier format
 * (`u32 length | u32 CRC-32 | body`, no header) are still read, up to their first bad record.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writevSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fileKind } from '../config/file-kind.js';
import { isProcessAlive } from '../config/process-alive.js';
import { claim, JOURNAL_NAME, SUFFIX } from './journal-file-name.js';
import { rekeyError, type RekeyError } from '../errors.js';

const FILE_MAGIC = Buffer.from('RKJ2', 'latin1');
const FILE_HEADER = 8;
const FRAME = 12;
const LEGACY_FRAME = 8;

export interface RecoveredJournal {
  /** The records, oldest first. */
  records: Uint8Array[];
  /** Files read: delete them once `records` are saved. */
  files: string[];
  /** Torn or corrupt stretches skipped (a crash mid-append, a failed write that could not be truncated). */
  dropped: number;
  /** Bytes in those stretches. */
  droppedBytes: number;
  /** Points those stretches' records claimed, where a record's header was readable. Never acknowledged: a 202 follows a whole append. */
  droppedPoints: number;
  /**
   * Files left alone because the pid in their name runs: another server on this data
   * directory — or not (the pid reused after a crash, a process of another container sharing
   * the directory), and then their acknowledged records wait until that pid is gone. The
   * caller warns about each, as it reports torn records.
   */
  liveWriters: Array<{ file: string; pid: number }>;
}

export interface PointJournalOptions {
  /** fdatasync() after every append and fsync() the directory after creating a file (durability policy `power`). */
  sync?: boolean;
}

/** An errno-style error (`code`), so callers can tell a full disk from a bug. */
function ioError(code: string, message: string, cause?: unknown): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message, cause === undefined ? undefined : { cause });
  error.code = code;
  return error;
}

export class PointJournal {
  private readonly prefix: string;
  private readonly sync: boolean;
  private seq = 0;
  private fd: number;
  private current: string;
  private salt: Buffer;
  /** Bytes of the header and whole records in the current file (0 until its first record): where a failed write is cut back to. */
  private size: number;
  /** The current file may hold bytes of a failed write past `size` that could not be cut off yet. */
  private dirty = false;
  /** Finished files whose records may not all be saved yet. */
  private finished: string[] = [];

  private constructor(
    private readonly dir: string,
    options: PointJournalOptions,
  ) {
    this.sync = options.sync ?? false;
    this.prefix = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const first = this.openNext();
    [this.fd, this.current, this.salt] = [first.fd, first.file, first.salt];
    this.size = 0;
  }

  /** Creates `dir` if needed and starts this process's first file. Call `recover` first. */
  static open(dir: string, options: PointJournalOptions = {}): PointJournal {
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // like the files: points are the org's data
    return new PointJournal(dir, options);
  }

  /**
   * Reads the files left by processes that no longer run — including an earlier life of
   * this process id, as after a container restart — oldest first. Files of another running
   * process (a second server on the same data directory) are left to it.
   *
   * A dead process's file is first claimed: renamed, atomically, to a name that carries this
   * process's id (`claim`). Two servers started at once on one data directory both see the
   * file as dead; only one rename succeeds, so only one of them delivers its records (before,
   * both read it and both delivered them: duplicates). A claimed file this process does not
   * get to save outlives it under its new name, and the next start recovers it again. A file
   * copied in by hand (a name rekey does not give) is claimed the same way, and read first.
   */
  static recover(dir: string): RecoveredJournal {
    const result: RecoveredJournal = { records: [], files: [], dropped: 0, droppedBytes: 0, droppedPoints: 0, liveWriters: [] };
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith(SUFFIX));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
      throw error;
    }
    const entries = names.map((name) => ({ name, parts: JOURNAL_NAME.exec(name) }));
    // Files copied in by hand first, as their claimed names (time 0, `claim`) will sort at the next start.
    entries.sort((a, b) => Number(a.parts !== null) - Number(b.parts !== null) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, parts } of entries) {
      const pid = parts === null ? NaN : Number(parts[2]);
      if (pid !== process.pid && isProcessAlive(pid)) {
        result.liveWriters.push({ file: join(dir, name), pid });
        continue;
      }
      const entry = join(dir, name);
      // Opened before the claim, so an entry that cannot be read (a directory, a FIFO, no read
      // permission, a symlink loop) stops the start under the name the operator gave or knows,
      // not a claimed one; O_NONBLOCK, so opening a FIFO does not wait for a writer forever.
      let fd: number;
      try {
        fd = openSync(entry, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (error) {
        // Listed, then gone: another server starting on the same data directory claimed it
        // first (seen in CI: three nodes started at once on one ./data, one exited with this
        // ENOENT before listening). Its records are that process's to deliver.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw unreadable(entry, dir, errnoReason(error), error);
      }
      let file = entry;
      let bytes: Buffer;
      try {
        const kind = fstatSync(fd);
        if (!kind.isFile()) throw unreadable(entry, dir, `${kind.isDirectory() ? 'EISDIR: ' : ''}${fileKind(kind)}, not a regular file`);
        if (pid !== process.pid) {
          try {
            file = claim(dir, name, parts);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // claimed by another process first, as above
            throw unreadable(entry, dir, `${errnoReason(error)}, renaming it to claim it`, error);
          }
        }
        try {
          bytes = readFileSync(fd);
        } catch (error) {
          throw unreadable(file, dir, errnoReason(error), error); // where it is now, claimed or not
        }
      } finally {
        closeSync(fd);
      }
      const read = readRecords(bytes);
      result.records.push(...read.records);
      result.dropped += read.dropped;
      result.droppedBytes += read.droppedBytes;
      result.droppedPoints += read.droppedPoints;
      result.files.push(file);
    }
    return result;
  }

  /**
   * Appends one record with a single write() call (and fdatasync() with `sync`). Throws an
   * errno-style error (ENOSPC, EDQUOT, EIO, EROFS…) if the file system refuses any of it; the
   * file is then cut back to its last whole record, so the next append follows a good one.
   */
  append(record: Uint8Array): void {
    this.appendMany([record]);
  }

  /**
   * Appends several records with one write() call (and one fdatasync() with `sync`): a group
   * commit, for a caller that gathers the records of one event-loop turn (the relay's spool:
   * a write per payload was its largest file-system cost). All or nothing: on any error the
   * file is cut back to before the first of them, as `append` does, and none may be
   * acknowledged. Each record keeps its own frame, so recovery reads them one by one. A record
   * may be given in pieces (the relay's header and the body as received), written as one
   * record without copying them together.
   */
  appendMany(records: ReadonlyArray<Uint8Array | readonly Uint8Array[]>): void {
    if (records.length === 0) return;
    if (this.dirty) this.cutBack(); // throws while the file cannot be repaired: nothing is appended after garbage
    // A file gets its header with its first record: creating a file needs no data block, so
    // the server starts, and a rotation succeeds, on a disk that has inodes but no bytes left.
    const parts: Uint8Array[] = this.size === 0 ? [Buffer.concat([FILE_MAGIC, this.salt])] : [];
    let total = this.size === 0 ? FILE_HEADER : 0;
    const seed = this.salt.readUInt32LE(0);
    for (const record of records) {
      const pieces = record instanceof Uint8Array ? [record] : record;
      let length = 0;
      for (const piece of pieces) length += piece.byteLength;
      const frame = Buffer.allocUnsafe(FRAME);
      this.salt.copy(frame, 0);
      frame.writeUInt32LE(length, 4);
      let crc = crc32(frame.subarray(4, 8), seed);
      for (const piece of pieces) crc = crc32(piece, crc);
      frame.writeUInt32LE(crc, 8);
      parts.push(frame, ...pieces);
      total += FRAME + length;
    }
    let written: number;
    try {
      written = writevSync(this.fd, parts);
      if (written === total && this.sync) fdatasyncSync(this.fd);
    } catch (error) {
      this.failedWrite();
      throw error;
    }
    if (written !== total) {
      this.failedWrite();
      throw ioError('ENOSPC', `the intake journal took ${written} of ${total} bytes (disk full?)`);
    }
    this.size += total;
  }

  /**
   * Moves appends to a new file and returns every finished file: once the caller has saved
   * all records appended so far, it passes them to `remove`. If the new file cannot be
   * created (no space, no inodes), throws and goes on appending to the current file.
   */
  rotate(): string[] {
    const next = this.openNext(); // first: on failure the current descriptor stays open and in use
    const previous = this.fd;
    if (this.dirty) {
      try {
        ftruncateSync(previous, this.size);
      } catch {
        // Recovery skips the torn bytes (they are not a record: no valid salt and CRC).
      }
    }
    this.finished.push(this.current);
    [this.fd, this.current, this.salt, this.size, this.dirty] = [next.fd, next.file, next.salt, 0, false];
    try {
      closeSync(previous);
    } catch {
      // Linux releases the descriptor even when close() reports an error.
    }
    return [...this.finished];
  }

  /** Deletes files whose records are all saved. A file that cannot be deleted now is tried again at the next call. */
  remove(files: readonly string[]): void {
    const kept: string[] = [];
    for (const file of files) {
      try {
        unlinkSync(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') kept.push(file);
      }
    }
    this.finished = this.finished.filter((file) => !files.includes(file) || kept.includes(file));
  }

  /** Closes the current file. `saved`: every record is in the database, so no file is needed. */
  close(saved: boolean): void {
    closeSync(this.fd);
    if (saved) this.remove([...this.finished, this.current]);
  }

  /** After a failed write: cut the file back to its last whole record, or remember to. */
  private failedWrite(): void {
    this.dirty = true;
    try {
      this.cutBack();
    } catch {
      // `dirty` stays set: the next append tries again before writing, and refuses if it cannot.
    }
  }

  private cutBack(): void {
    ftruncateSync(this.fd, this.size);
    this.dirty = false;
  }

  private openNext(): { fd: number; file: string; salt: Buffer } {
    const file = join(this.dir, `${this.prefix}-${String(this.seq++).padStart(9, '0')}${SUFFIX}`);
    const salt = randomBytes(4);
    const fd = openSync(file, 'a', 0o600);
    if (this.sync) {
      try {
        syncDirectory(this.dir); // the new name survives a power cut with the records in it
      } catch (error) {
        closeSync(fd);
        try {
          unlinkSync(file);
        } catch {
          // An empty file is skipped by recovery.
        }
        throw error;
      }
    }
    return { fd, file, salt };
  }
}

/** The catalogue's error for a journal entry recovery cannot read, named by `path` (where the operator finds it). */
function unreadable(path: string, dir: string, reason: string, cause?: unknown): RekeyError {
  return rekeyError('JOURNAL_FILE_UNREADABLE', { path, dir, reason }, cause === undefined ? undefined : { cause });
}

/** `EACCES: permission denied` from an errno error: its message without the syscall and path Node appends. */
function errnoReason(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const text = typeof message === 'string' ? message.split(',')[0]! : String(error);
  return code !== undefined && !text.startsWith(code) ? `${code}: ${text}` : text;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface ReadRecords {
  records: Uint8Array[];
  dropped: number;
  droppedBytes: number;
  droppedPoints: number;
}

/** The records of one file. A torn or corrupt stretch is skipped and reading goes on after it. */
export function readRecords(bytes: Buffer): ReadRecords {
  if (bytes.length < FILE_HEADER || !bytes.subarray(0, 4).equals(FILE_MAGIC)) return readLegacyRecords(bytes);
  const salt = bytes.subarray(4, FILE_HEADER);
  const seed = salt.readUInt32LE(0);
  const result: ReadRecords = { records: [], dropped: 0, droppedBytes: 0, droppedPoints: 0 };
  let offset = FILE_HEADER;
  while (offset < bytes.length) {
    const end = recordEnd(bytes, offset, salt, seed);
    if (end > 0) {
      result.records.push(bytes.subarray(offset + FRAME, end));
      offset = end;
      continue;
    }
    // Torn or corrupt: skip to the next place a record could start (its salt).
    const next = bytes.indexOf(salt, offset + 1);
    const stop = next < 0 ? bytes.length : next;
    result.dropped += 1;
    result.droppedBytes += stop - offset;
    // The record's own header says how many points it held, if enough of it is there.
    if (bytes.subarray(offset, offset + 4).equals(salt) && offset + FRAME + 8 <= stop) result.droppedPoints += bytes.readUInt32LE(offset + FRAME + 4);
    offset = stop;
  }
  return result;
}

/** The end of the whole, checksummed record at `offset`, or -1. */
function recordEnd(bytes: Buffer, offset: number, salt: Buffer, seed: number): number {
  if (offset + FRAME > bytes.length || !bytes.subarray(offset, offset + 4).equals(salt)) return -1;
  const length = bytes.readUInt32LE(offset + 4);
  const end = offset + FRAME + length;
  if (end > bytes.length) return -1;
  const crc = crc32(bytes.subarray(offset + FRAME, end), crc32(bytes.subarray(offset + 4, offset + 8), seed));
  return crc === bytes.readUInt32LE(offset + 8) ? end : -1;
}

/** Files written before the salted format: `u32 length | u32 CRC-32 | body`, read up to the first bad record. */
function readLegacyRecords(bytes: Buffer): ReadRecords {
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset + LEGACY_FRAME <= bytes.length) {
    const length = bytes.readUInt32LE(offset);
    const end = offset + LEGACY_FRAME + length;
    if (end > bytes.length) break;
    const body = bytes.subarray(offset + LEGACY_FRAME, end);
    if (crc32(body) !== bytes.readUInt32LE(offset + 4)) break;
    records.push(body);
    offset = end;
  }
  const torn = offset < bytes.length;
  return { records, dropped: torn ? 1 : 0, droppedBytes: bytes.length - offset, droppedPoints: 0 };
}
