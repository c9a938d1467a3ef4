/**
 * The agent's bounded on-disk queue: every payload is on disk before the first attempt to
 * send it, and is deleted only after the intake answered 2xx. A 403, an outage or a restart
 * therefore loses nothing; re-sending after a crash is harmless because the intake
 * de-duplicates points on (org, metric, tags, host, timestamp).
 *
 * Crash safety: a payload is written to `tmp/`, fsync'd, renamed into `queue/` (atomic on
 * POSIX) and the directory fsync'd. A SIGKILL mid-write leaves only a `tmp/` file, which is
 * deleted at the next start and never sent. Each file also carries its length and CRC-32, so
 * a file damaged by the disk is discarded (and counted) rather than sent.
 *
 * Bounded: when the bytes on disk would exceed `maxBytes`, the oldest payloads are deleted
 * and counted in `dropped` (an explicit drop policy: newest data wins).
 *
 * When the run path cannot be written (ENOSPC, EDQUOT, EROFS, EIO, inode exhaustion…) a
 * payload is never lost for it: it stays in a bounded memory buffer (`memoryMaxBytes`, default
 * 4 MiB), the forwarder sends it from memory like any other entry, and every later enqueue
 * first tries to write the buffered payloads to disk, oldest first (`retryDisk()` does it on
 * demand). Only when that buffer is full are its oldest payloads dropped, counted in
 * `memoryDropped`. A buffered payload is lost by a crash (SIGKILL) before the disk recovers:
 * that is the price of a disk that refuses writes, and the status says how many are at risk.
 *
 * File name: `<ms since epoch, 13 digits>-<sequence, 8 digits>.<destination>.payload`, so a
 * lexical sort is the order of arrival and the destination is known without reading the file.
 *
 * @example
 *   const queue = await DiskQueue.open('/var/lib/rekey-agent', { maxBytes: 100 * 2 ** 20 });
 *   await queue.enqueue({ path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' }, body, ['main']);
 *   const entry = queue.oldest('main'); const payload = await queue.read(entry!); await queue.remove(entry!);
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface PayloadMeta {
  /** Intake path, e.g. `/api/v1/series`. */
  path: string;
  encoding: 'deflate' | 'gzip';
  contentType: string;
}

export interface QueueEntry {
  /** File name stem shared by the copies of one payload for several destinations. */
  readonly id: string;
  readonly destination: string;
  readonly file: string;
  readonly bytes: number;
  /** The file's content while the payload is only in memory (the disk refused it). */
  memory?: Buffer | undefined;
}

export interface QueuedPayload extends PayloadMeta {
  id: string;
  body: Buffer;
}

interface Header extends PayloadMeta {
  length: number;
  crc: number;
}

export const DEFAULT_QUEUE_MAX_BYTES = 100 * 1024 * 1024;
/** Memory for payloads the disk refused: a few minutes of a busy host's flushes. */
export const DEFAULT_QUEUE_MEMORY_MAX_BYTES = 4 * 1024 * 1024;

export interface DiskQueueOptions {
  maxBytes?: number;
  /** Bytes of payloads kept in memory while the disk refuses writes (default 4 MiB). */
  memoryMaxBytes?: number;
}
const NAME = /^(\d{13}-\d{8})\.([a-z0-9-]+)\.payload$/;

export class DiskQueue {
  /** All entries (on disk or only in memory), oldest first. */
  private readonly entries: QueueEntry[] = [];
  private sequence = 0;
  private totalBytes = 0;
  private memoryBytesHeld = 0;
  /** Payload files deleted unsent because the queue was full. */
  dropped = 0;
  /** Payload files found damaged and discarded. */
  corrupt = 0;
  /** Payloads dropped unsent because the disk refused them and the memory buffer was full. */
  memoryDropped = 0;
  /** Failed attempts to write a payload to disk (each one kept the payload in memory). */
  writeErrors = 0;
  /** The last write error (`ENOSPC: no space left on device…`), null once a write succeeds. */
  lastWriteError: string | null = null;
  private readonly listeners = new Set<() => void>();
  /** Enqueues and disk retries run one at a time, so entries stay in order of arrival. */
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly queueDir: string,
    private readonly tmpDir: string,
    private readonly maxBytes: number,
    private readonly memoryMaxBytes: number,
  ) {}

  /** Opens (creating) the queue under `runPath`, deleting half-written files. */
  static async open(runPath: string, options: DiskQueueOptions = {}): Promise<DiskQueue> {
    const queueDir = join(runPath, 'queue');
    const tmpDir = join(runPath, 'queue-tmp');
    await mkdir(queueDir, { recursive: true, mode: 0o700 });
    // Anything in tmp/ was being written when the process died: it was never renamed, so it
    // was never acknowledged as queued. Delete it.
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    const queue = new DiskQueue(queueDir, tmpDir, options.maxBytes ?? DEFAULT_QUEUE_MAX_BYTES, options.memoryMaxBytes ?? DEFAULT_QUEUE_MEMORY_MAX_BYTES);
    for (const file of (await readdir(queueDir)).sort()) {
      const match = NAME.exec(file);
      if (match === null) continue;
      const info = await stat(join(queueDir, file)).catch(() => null);
      if (info === null) continue;
      queue.entries.push({ id: match[1]!, destination: match[2]!, file, bytes: info.size });
      queue.totalBytes += info.size;
      const sequence = Number(match[1]!.slice(14));
      if (sequence >= queue.sequence) queue.sequence = sequence + 1;
    }
    return queue;
  }

  get depth(): number {
    return this.entries.length;
  }

  /** Bytes of payloads on disk. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Payloads held only in memory because the disk refused them. */
  get memoryDepth(): number {
    let n = 0;
    for (const entry of this.entries) if (entry.memory !== undefined) n++;
    return n;
  }

  get memoryBytes(): number {
    return this.memoryBytesHeld;
  }

  /** Entries waiting for `destination`. */
  depthFor(destination: string): number {
    let n = 0;
    for (const entry of this.entries) if (entry.destination === destination) n++;
    return n;
  }

  /** Called after every enqueue (the forwarder wakes up). */
  onEnqueue(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stores one payload, one copy per destination: on disk (written, fsync'd, renamed, the
   * directory synced) or, when the disk refuses it, in the memory buffer. Never rejects for a
   * file-system error. Payloads already waiting in memory are written to disk first.
   */
  enqueue(meta: PayloadMeta, body: Buffer, destinations: string[]): Promise<string> {
    const run = this.writing.then(() => this.enqueueNow(meta, body, destinations));
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Tries to write the payloads waiting in memory to disk, oldest first. */
  retryDisk(): Promise<void> {
    const run = this.writing.then(async () => void (await this.spill()));
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async enqueueNow(meta: PayloadMeta, body: Buffer, destinations: string[]): Promise<string> {
    const id = `${String(Date.now()).padStart(13, '0')}-${String(this.sequence++ % 1e8).padStart(8, '0')}`;
    const header: Header = { ...meta, length: body.length, crc: crc32(body) };
    const content = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
    const added: QueueEntry[] = destinations.map((destination) => ({ id, destination, file: `${id}.${destination}.payload`, bytes: content.length }));
    // Older payloads waiting in memory go to disk first; while they cannot, neither can this one.
    const diskUsable = (await this.spill()) && (await this.writeFiles(added, content));
    if (diskUsable) {
      for (const entry of added) {
        this.entries.push(entry);
        this.totalBytes += entry.bytes;
      }
      await this.enforceLimit();
    } else {
      for (const entry of added) this.holdInMemory(entry, content);
    }
    for (const listener of this.listeners) listener();
    return id;
  }

  /**
   * Writes every copy of one payload; true when all are durable in `queue/`. On an error the
   * copies written so far are deleted (best effort), so none is left half there.
   */
  private async writeFiles(entries: QueueEntry[], content: Buffer): Promise<boolean> {
    const done: string[] = [];
    let tmp: string | null = null;
    try {
      for (const entry of entries) {
        tmp = join(this.tmpDir, entry.file);
        const handle = await open(tmp, 'w', 0o600);
        try {
          await handle.writeFile(content);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, join(this.queueDir, entry.file));
        tmp = null;
        done.push(entry.file);
      }
      await syncDirectory(this.queueDir);
      this.lastWriteError = null;
      return true;
    } catch (error) {
      this.writeErrors++;
      this.lastWriteError = (error as Error).message;
      if (tmp !== null) await unlink(tmp).catch(() => undefined);
      for (const file of done) await unlink(join(this.queueDir, file)).catch(() => undefined);
      return false;
    }
  }

  private holdInMemory(entry: QueueEntry, content: Buffer): void {
    entry.memory = content;
    this.entries.push(entry);
    this.memoryBytesHeld += content.length;
    // Oldest first: the newest data wins, as on disk.
    while (this.memoryBytesHeld > this.memoryMaxBytes) {
      const oldest = this.entries.find((e) => e.memory !== undefined && e !== entry);
      if (oldest === undefined) break;
      this.memoryDropped++;
      this.forget(oldest);
    }
  }

  /** Writes the memory-only entries to disk in order; true when none is left in memory. */
  private async spill(): Promise<boolean> {
    for (;;) {
      const entry = this.entries.find((e) => e.memory !== undefined);
      if (entry === undefined) return true;
      const content = entry.memory!;
      if (!(await this.writeFiles([entry], content))) return false;
      if (this.entries.includes(entry) && entry.memory !== undefined) {
        entry.memory = undefined;
        this.memoryBytesHeld -= content.length;
        this.totalBytes += entry.bytes;
      } else {
        // Delivered (or dropped) while it was being written: the file is not needed.
        await unlink(join(this.queueDir, entry.file)).catch(() => undefined);
      }
    }
  }

  /** The oldest entry for `destination`, or undefined when there is none. */
  oldest(destination: string): QueueEntry | undefined {
    for (const entry of this.entries) if (entry.destination === destination) return entry;
    return undefined;
  }

  /**
   * Reads an entry. Returns undefined (and forgets the entry) when it is gone or damaged.
   */
  async read(entry: QueueEntry): Promise<QueuedPayload | undefined> {
    let content: Buffer;
    const inMemory = entry.memory;
    if (inMemory !== undefined) content = inMemory;
    else {
      try {
        content = await readFile(join(this.queueDir, entry.file));
      } catch {
        this.forget(entry);
        return undefined;
      }
    }
    const newline = content.indexOf(0x0a);
    let header: Header | undefined;
    try {
      header = newline > 0 ? (JSON.parse(content.subarray(0, newline).toString('utf8')) as Header) : undefined;
    } catch {
      header = undefined;
    }
    const body = content.subarray(newline + 1);
    if (header === undefined || header.length !== body.length || header.crc !== crc32(body)) {
      this.corrupt++;
      await this.remove(entry);
      return undefined;
    }
    return { id: entry.id, path: header.path, encoding: header.encoding, contentType: header.contentType, body };
  }

  /** Deletes an entry (after a 2xx, or when it can never be delivered). */
  async remove(entry: QueueEntry): Promise<void> {
    const onDisk = entry.memory === undefined;
    if (!this.forget(entry)) return;
    if (onDisk) await unlink(join(this.queueDir, entry.file)).catch(() => undefined);
  }

  /** Deletes every entry for a destination that no longer exists; returns how many. */
  async removeDestination(destination: string): Promise<number> {
    const gone = this.entries.filter((entry) => entry.destination === destination);
    for (const entry of gone) await this.remove(entry);
    return gone.length;
  }

  private forget(entry: QueueEntry): boolean {
    const index = this.entries.indexOf(entry);
    if (index < 0) return false;
    this.entries.splice(index, 1);
    if (entry.memory !== undefined) this.memoryBytesHeld -= entry.memory.length;
    else this.totalBytes -= entry.bytes;
    return true;
  }

  private async enforceLimit(): Promise<void> {
    // Never the newest file: one payload larger than maxBytes is still delivered.
    let onDisk = this.entries.length - this.memoryDepth;
    while (this.totalBytes > this.maxBytes && onDisk > 1) {
      const oldest = this.entries.find((e) => e.memory === undefined)!;
      this.dropped++;
      onDisk--;
      await this.remove(oldest);
    }
  }
}

/**
 * fsync on a directory makes a rename in it durable (ext4, xfs). Never rejects for the fsync
 * itself (open-buckets-file.ts uses it too).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems (and platforms) refuse fsync on a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}

/** Destination ids used in file names: `main`, or `ae-<hash>` for additional endpoints. */
export function isValidDestinationId(id: string): boolean {
  return /^[a-z0-9-]+$/.test(id);
}
