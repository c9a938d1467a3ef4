/**
 * The intake journal: append-only files in the data directory where each write batch is
 * recorded — one write() — before the intake acknowledges it. The batches are saved into the
 * database about once a second (point-writer.ts), and a journal file is deleted once every
 * batch in it is saved. Time-series databases keep a write-ahead log in front of their
 * blocks for the same reason (Prometheus, InfluxDB).
 *
 * Why: committing each batch to SQLite cost ~30 WAL frames, two write() calls each, about
 * 0.5 ms per batch on this project's 2-core VM, where a system call costs 3–9 µs; that held the
 * intake at 0.47 of the bare-parser baseline (bench/intake-throughput.ts). A journal append is
 * one call whatever the batch holds, and the save writes a second's batches as one row per
 * metric.
 *
 * Durability (documented in docs/operations.md): an acknowledged batch is in the operating
 * system's page cache, so it survives the process crashing or being killed — it is replayed
 * at the next start — but not a power cut or kernel crash within the second before it is
 * saved. That is the guarantee the SQLite store already gives (WAL with synchronous=NORMAL).
 *
 * Files: `<startMs>-<pid>-<random>-<seq>.journal`, each a sequence of records
 * `u32 length | u32 CRC-32 of the body | body` (body: batch-record.ts). A crash in the middle
 * of an append leaves a torn last record; recovery stops at the first record that is short
 * or fails its CRC, and keeps everything before it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const SUFFIX = '.journal';
const FRAME = 8;

export interface RecoveredJournal {
  /** The records, oldest first. */
  records: Uint8Array[];
  /** Files read: delete them once `records` are saved. */
  files: string[];
  /** Records dropped because they were torn or corrupt (a crash mid-append). */
  dropped: number;
}

export class PointJournal {
  private readonly prefix: string;
  private seq = 0;
  private fd: number;
  private current: string;
  /** Finished files whose records may not all be saved yet. */
  private finished: string[] = [];

  private constructor(private readonly dir: string) {
    this.prefix = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}`;
    [this.fd, this.current] = this.openNext();
  }

  /** Creates `dir` if needed and starts this process's first file. Call `recover` first. */
  static open(dir: string): PointJournal {
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // like the files: points are the org's data
    return new PointJournal(dir);
  }

  /**
   * Reads the files left by processes that no longer run — including an earlier life of
   * this process id, as after a container restart — oldest first. Files of another running
   * process (a second server on the same data directory) are left to it.
   */
  static recover(dir: string): RecoveredJournal {
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith(SUFFIX));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], files: [], dropped: 0 };
      throw error;
    }
    const result: RecoveredJournal = { records: [], files: [], dropped: 0 };
    for (const name of names.sort()) {
      const pid = Number(name.split('-')[1]);
      if (pid !== process.pid && isRunning(pid)) continue;
      const file = join(dir, name);
      const { records, dropped } = readRecords(readFileSync(file));
      result.records.push(...records);
      result.dropped += dropped;
      result.files.push(file);
    }
    return result;
  }

  /** Appends one record with a single write() call; throws if the file system refuses it. */
  append(record: Uint8Array): void {
    const frame = Buffer.allocUnsafe(FRAME);
    frame.writeUInt32LE(record.byteLength, 0);
    frame.writeUInt32LE(crc32(record), 4);
    const written = writevSync(this.fd, [frame, record]);
    if (written !== FRAME + record.byteLength) {
      throw new Error(`the intake journal took ${written} of ${FRAME + record.byteLength} bytes (disk full?)`);
    }
  }

  /**
   * Moves appends to a new file and returns every finished file: once the caller has saved
   * all records appended so far, it passes them to `remove`.
   */
  rotate(): string[] {
    closeSync(this.fd);
    this.finished.push(this.current);
    [this.fd, this.current] = this.openNext();
    return [...this.finished];
  }

  /** Deletes files whose records are all saved. */
  remove(files: readonly string[]): void {
    for (const file of files) {
      try {
        unlinkSync(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    this.finished = this.finished.filter((file) => !files.includes(file));
  }

  /** Closes the current file. `saved`: every record is in the database, so no file is needed. */
  close(saved: boolean): void {
    closeSync(this.fd);
    if (saved) this.remove([...this.finished, this.current]);
  }

  private openNext(): [number, string] {
    const file = join(this.dir, `${this.prefix}-${String(this.seq++).padStart(9, '0')}${SUFFIX}`);
    return [openSync(file, 'a', 0o600), file];
  }
}

/** The records of one file, up to the first torn or corrupt one. */
export function readRecords(bytes: Buffer): { records: Uint8Array[]; dropped: number } {
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset + FRAME <= bytes.length) {
    const length = bytes.readUInt32LE(offset);
    const end = offset + FRAME + length;
    if (end > bytes.length) break;
    const body = bytes.subarray(offset + FRAME, end);
    if (crc32(body) !== bytes.readUInt32LE(offset + 4)) break;
    records.push(body);
    offset = end;
  }
  return { records, dropped: offset < bytes.length ? 1 : 0 };
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
