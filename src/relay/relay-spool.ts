/**
 * The relay's spool: every payload accepted for an organisation in relay mode is written here
 * before the agent gets its 202, and stays until the upstream accepted it (or refused it for
 * good: dead-letters.ts). It is the intake journal's format and code (src/points/point-journal.ts:
 * checksummed, salted records, a failed write cut back, a failed rotation keeping its
 * descriptor, fdatasync() with durability `power`) used twice:
 *
 *   <dir>/payloads/   one record per payload (spool-record.ts), and
 *   <dir>/delivered/  the ids of the payloads done with.
 *
 * Group commit: the payloads accepted in one event-loop turn are written with one write() (one
 * fdatasync() with `power`) when the turn's I/O is done (setImmediate), and each agent's 202
 * waits for that write — never before its bytes are in the file. The `delivered` marks of one
 * turn are one record, one write(). Why: with a write() per payload and another per mark, the
 * writes were ~14 % of the built relay's CPU under bench/relay-vs-proxy.ts's load (~14 µs per
 * write() on ext4; bench/profile-relay.ts, 2026-12-01), ~2–3 % batched. A batch that fails
 * (full disk) is cut back whole: none of its payloads is acknowledged. A torn batch of marks
 * only sends its payloads again, the gap below.
 *
 * On start, the payloads without a `delivered` record are what an earlier run acknowledged and
 * did not deliver: they are appended again to this run's file and the old files deleted (the
 * order keeps them safe if the start itself is killed: a payload found twice is one payload,
 * by id). A payload file is deleted once every payload in it is delivered; the `delivered`
 * files once the spool is empty.
 *
 * Exactly once, and its one gap: a payload is marked delivered right after the upstream's
 * 2xx (in the same event-loop turn). A crash before the mark's write() sends it again on
 * restart — the payloads whose request had left, up to the delivery concurrency (delivery.ts
 * holds a payload's slot until its mark is written), which the upstream has usually stored
 * already. Points re-sent replace themselves upstream; distributions, events, logs count
 * twice. docs/relay.md ("Exactly once in effect") gives the kinds and the measured figures.
 *
 * Bounded: `maxBytes` of payloads not yet delivered; beyond it `accept` throws RELAY_SPOOL_FULL
 * (503 + Retry-After to the agent, which keeps its data). The payloads are also held in
 * memory while they wait, so the bound is a memory bound too.
 *
 * Shared fairly: one organisation whose upstream is down must not fill the spool and so turn
 * every other organisation's agents away. The spool is divided into equal shares: one per
 * organisation with payloads waiting (or sending now), plus one held for all the relay-mode
 * organisations with nothing waiting (any of them may need room next). An organisation may
 * go beyond its share only into space no other share still needs. Alone in relay mode, an
 * organisation may use the whole spool; with others, whatever it already holds beyond its
 * share stays (it was acknowledged), but it gets no more until it drains. Organisations whose
 * upstreams work hold almost nothing, so with one upstream down among many relay
 * organisations, that organisation gets half the spool and the rest keep the other half.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tryPidLock } from '../config/pid-lock.js';
import { rekeyError } from '../errors.js';
import { PointJournal } from '../points/point-journal.js';
import { decodeAcks, decodeSpooled, encodeAcks, encodeSpooled, type SpooledPayload } from './spool-record.js';

export interface RelaySpoolOptions {
  /** Bytes of undelivered payloads (bodies and headers) the spool holds before refusing more. */
  maxBytes: number;
  /** fdatasync() every append (durability `power`). */
  sync?: boolean;
  /** Start a new payload file after this many bytes (default 16 MiB). */
  rotateBytes?: number;
  /** Seconds the agent is told to wait when the spool is full (default 10). */
  fullRetryAfterSeconds?: number;
}

export interface RecoveredSpool {
  payloads: SpooledPayload[];
  /** Torn records skipped (writes cut short by a crash or a full disk: never acknowledged). */
  tornRecords: number;
  /** The live process that held `recover.lock`, when this one therefore recovered nothing. */
  recoveryHeldBy?: number;
  /** Spool files left alone because the pid in their name runs (RecoveredJournal.liveWriters): the caller warns about each. */
  liveWriters: Array<{ file: string; pid: number }>;
}

interface Generation {
  file: string | undefined;
  pending: number;
}

/** A payload accepted in this event-loop turn, waiting for the turn's write. */
interface Waiting {
  payload: SpooledPayload;
  record: [Buffer, Buffer];
  written: () => void;
  failed: (error: unknown) => void;
}

/** Held while a process recovers the spool (`RelaySpool.open`). */
export const RECOVER_LOCK_FILE = 'recover.lock';

export class RelaySpool {
  private readonly payloads: PointJournal;
  private readonly delivered: PointJournal;
  private readonly rotateBytes: number;
  /** The generation (payload file) each undelivered payload is in. */
  private readonly generationOf = new Map<string, Generation>();
  private current: Generation = { file: undefined, pending: 0 };
  private currentBytes = 0;
  private knownFinished = new Set<string>();
  private finishedGenerations: Generation[] = [];
  private pendingBytes = 0;
  /** Marks written since the last compaction: compacting costs two file creations, so not after every payload. */
  private marksSinceCompaction = 0;
  /** Bytes of undelivered payloads per organisation (for the fair share). */
  private readonly orgBytes = new Map<string, number>();
  /** The organisation of each undelivered payload. */
  private readonly orgOf = new Map<string, string>();
  /** Payloads accepted in this turn (their bytes already counted against the bound). */
  private batch: Waiting[] = [];
  /** Ids marked done in this turn, and marks whose write failed (written with the next batch). */
  private marks: string[] = [];
  private markWaiters: Array<(written: boolean) => void> = [];
  private flushScheduled = false;

  private constructor(
    private readonly dir: string,
    private readonly options: RelaySpoolOptions,
  ) {
    this.rotateBytes = options.rotateBytes ?? 16 * 1024 * 1024;
    const sync = options.sync ?? false;
    this.payloads = PointJournal.open(join(dir, 'payloads'), { sync });
    this.delivered = PointJournal.open(join(dir, 'delivered'), { sync });
  }

  /**
   * Reads what earlier runs left, re-spools the undelivered payloads into this run's file and
   * deletes the old files. Returns the spool and the payloads to deliver, oldest first.
   *
   * One process recovers a spool at a time: `<dir>/recover.lock` (pid-lock.ts) is held while
   * both folders are read, re-spooled and deleted. A dead run's payloads and its `delivered`
   * marks must be read by the same process: each journal file is claimed on its own
   * (point-journal.ts), and two nodes started at once on one spool split them — one took the
   * payload files, the other the marks, and the first sent every payload already delivered
   * again (a hostile try, 2026-12-02: 600 of 1,000, in 6 runs of 6). A process that finds the
   * lock held by a live one recovers nothing: the holder delivers what the dead runs left.
   */
  static open(dir: string, options: RelaySpoolOptions): { spool: RelaySpool; recovered: RecoveredSpool } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const lock = tryPidLock(join(dir, RECOVER_LOCK_FILE));
    if ('heldBy' in lock)
      return { spool: new RelaySpool(dir, options), recovered: { payloads: [], tornRecords: 0, recoveryHeldBy: lock.heldBy, liveWriters: [] } };
    try {
      return RelaySpool.recoverAndOpen(dir, options);
    } finally {
      lock.release();
    }
  }

  private static recoverAndOpen(dir: string, options: RelaySpoolOptions): { spool: RelaySpool; recovered: RecoveredSpool } {
    const oldPayloads = PointJournal.recover(join(dir, 'payloads'));
    const oldDelivered = PointJournal.recover(join(dir, 'delivered'));
    const done = new Set(oldDelivered.records.flatMap(decodeAcks));
    const seen = new Set<string>();
    const payloads: SpooledPayload[] = [];
    let unreadable = 0;
    for (const record of oldPayloads.records) {
      const payload = decodeSpooled(record);
      if (payload === undefined) {
        unreadable += 1;
        continue;
      }
      if (done.has(payload.id) || seen.has(payload.id)) continue;
      seen.add(payload.id);
      payloads.push(payload);
    }
    const spool = new RelaySpool(dir, options);
    spool.appendNow(payloads); // acknowledged already: kept whatever the bound; throws if the disk refuses
    // The re-spooled payloads are in this run's file: only now may the old ones go (payloads first).
    spool.payloads.remove(oldPayloads.files);
    spool.delivered.remove(oldDelivered.files);
    return {
      spool,
      recovered: { payloads, tornRecords: oldPayloads.dropped + unreadable, liveWriters: [...oldPayloads.liveWriters, ...oldDelivered.liveWriters] },
    };
  }

  /** Bytes of undelivered payloads. */
  get bytes(): number {
    return this.pendingBytes;
  }

  get count(): number {
    return this.generationOf.size;
  }

  /** Bytes of undelivered payloads of one organisation. */
  bytesOf(orgId: string): number {
    return this.orgBytes.get(orgId) ?? 0;
  }

  /**
   * Makes `payload` durable (per the durability policy): the promise resolves once it is written
   * with the other payloads of this event-loop turn (one write()), and only then may the agent
   * get its 202. Throws RELAY_SPOOL_FULL at once over `maxBytes` or over the organisation's fair
   * share (see above; `relayOrgs` is the number of organisations in relay mode). The promise
   * rejects with the file system's errno error (ENOSPC, EIO…) when the batch's write failed:
   * then none of the batch was kept.
   */
  accept(payload: SpooledPayload, relayOrgs = 1): Promise<void> {
    const size = sizeOf(payload);
    if (!this.fits(payload.orgId, size, relayOrgs)) {
      throw rekeyError('RELAY_SPOOL_FULL', { retryAfterSeconds: this.options.fullRetryAfterSeconds ?? 10 });
    }
    this.reserve(payload, size); // counted now, so the payloads of one turn cannot overrun the bound together
    const record = encodeSpooled(payload);
    return new Promise((written, failed) => {
      this.batch.push({ payload, record, written, failed });
      this.scheduleFlush();
    });
  }

  /**
   * Whether `size` more bytes of `orgId` fit: under `maxBytes`, and either within the
   * organisation's guaranteed share or leaving room for every other organisation's unused share.
   */
  private fits(orgId: string, size: number, relayOrgs: number): boolean {
    const max = this.options.maxBytes;
    if (this.pendingBytes + size > max) return false;
    const others = new Set(this.orgBytes.keys());
    others.delete(orgId);
    const idleShare = relayOrgs > others.size + 1 ? 1 : 0;
    const shares = others.size + 1 + idleShare;
    if (shares <= 1) return true;
    const share = max / shares;
    if (this.bytesOf(orgId) + size <= share) return true;
    // What the other shares still need: each waiting organisation's unused share, and the idle organisations' one.
    let reserved = idleShare * share;
    for (const other of others) reserved += Math.max(0, share - this.bytesOf(other));
    return this.pendingBytes + size + reserved <= max;
  }

  /**
   * The payload was delivered (or dead-lettered): it will not be sent again after a restart. It
   * leaves the spool's count at once; its mark is written with the other marks of this
   * event-loop turn, as one record. The promise says whether that write succeeded: on a full
   * disk the mark stays queued and goes with the next write (until then, a crash would send the
   * payload again — never lose it).
   */
  done(payload: SpooledPayload): Promise<boolean> {
    const generation = this.generationOf.get(payload.id);
    if (generation === undefined) return Promise.resolve(true);
    this.generationOf.delete(payload.id);
    this.release(payload);
    generation.pending -= 1;
    if (generation.pending === 0 && generation.file !== undefined) {
      // Every payload of the file is delivered: whether or not the marks are written yet, none is sent again.
      this.payloads.remove([generation.file]);
      this.finishedGenerations = this.finishedGenerations.filter((g) => g !== generation);
    }
    this.marks.push(payload.id);
    return new Promise((settled) => {
      this.markWaiters.push(settled);
      this.scheduleFlush();
    });
  }

  /** Writes what is queued (the payloads waiting for their 202 first, then the marks) and closes the files. */
  close(): void {
    this.flush();
    this.payloads.close(false);
    this.delivered.close(false);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the I/O callbacks of this turn: every request whose body ended in it joins the batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    this.flushPayloads();
    this.flushMarks();
  }

  private flushPayloads(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    try {
      this.payloads.appendMany(batch.map((waiting) => waiting.record));
    } catch (error) {
      // Cut back whole (point-journal.ts): nothing of the batch is kept, nor acknowledged.
      for (const waiting of batch) {
        this.release(waiting.payload);
        waiting.failed(error);
      }
      return;
    }
    for (const waiting of batch) this.written(waiting.payload, waiting.record[0].length + waiting.record[1].length);
    if (this.currentBytes >= this.rotateBytes) this.rotatePayloads();
    for (const waiting of batch) waiting.written();
  }

  private flushMarks(): void {
    if (this.marks.length === 0) return;
    const waiters = this.markWaiters;
    this.markWaiters = [];
    let written = true;
    try {
      this.delivered.append(encodeAcks(this.marks));
      this.marksSinceCompaction += this.marks.length;
      this.marks = [];
    } catch {
      written = false; // kept in `marks` for the next write
    }
    for (const settled of waiters) settled(written);
    if (written && this.generationOf.size === 0 && this.batch.length === 0 && (this.marksSinceCompaction >= 4096 || this.currentBytes >= 1024 * 1024))
      this.compact();
  }

  /** Appends payloads at once, one write (the recovered ones at start); throws if the disk refuses. */
  private appendNow(payloads: readonly SpooledPayload[]): void {
    const records = payloads.map(encodeSpooled);
    this.payloads.appendMany(records);
    payloads.forEach((payload, i) => {
      this.reserve(payload, sizeOf(payload));
      this.written(payload, records[i]![0].length + records[i]![1].length);
    });
    if (this.currentBytes >= this.rotateBytes) this.rotatePayloads();
  }

  /** Counts an accepted payload's bytes against the bound and its organisation's share. */
  private reserve(payload: SpooledPayload, size: number): void {
    this.pendingBytes += size;
    this.orgOf.set(payload.id, payload.orgId);
    this.orgBytes.set(payload.orgId, this.bytesOf(payload.orgId) + size);
  }

  /** The payload is delivered, or its write failed: its bytes no longer count. */
  private release(payload: SpooledPayload): void {
    const size = sizeOf(payload);
    this.pendingBytes -= size;
    const orgId = this.orgOf.get(payload.id) ?? payload.orgId;
    this.orgOf.delete(payload.id);
    const left = this.bytesOf(orgId) - size;
    if (left > 0) this.orgBytes.set(orgId, left);
    else this.orgBytes.delete(orgId);
  }

  /** The payload is in the current file: it is undelivered until `done`. */
  private written(payload: SpooledPayload, recordBytes: number): void {
    this.generationOf.set(payload.id, this.current);
    this.current.pending += 1;
    this.currentBytes += recordBytes;
  }

  private rotatePayloads(): void {
    let finished: string[];
    try {
      finished = this.payloads.rotate();
    } catch {
      return; // no room for a new file: keep appending to this one (point-journal.ts)
    }
    const file = finished.find((name) => !this.knownFinished.has(name));
    if (file !== undefined) this.knownFinished.add(file);
    const previous = this.current;
    previous.file = file;
    this.current = { file: undefined, pending: 0 };
    this.currentBytes = 0;
    if (previous.pending === 0 && file !== undefined) this.payloads.remove([file]);
    else this.finishedGenerations.push(previous);
  }

  /** Nothing undelivered: every finished file of both journals can go. */
  private compact(): void {
    try {
      const payloadFiles = this.payloads.rotate();
      this.payloads.remove(payloadFiles);
      this.knownFinished = new Set();
      this.finishedGenerations = [];
      this.current = { file: undefined, pending: 0 };
      this.currentBytes = 0;
      this.delivered.remove(this.delivered.rotate());
      this.marksSinceCompaction = 0;
    } catch {
      // No room for new files now; the next time the spool empties tries again.
    }
  }
}

function sizeOf(payload: SpooledPayload): number {
  let size = payload.body.length + payload.path.length + 64;
  for (const [name, value] of payload.headers) size += name.length + value.length;
  return size;
}
