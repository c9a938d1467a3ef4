/**
 * Batches the intake's writes: requests add their points, and one writer handles them in
 * batches (group commit). A batch starts as soon as the previous one is done, or after
 * `flushDelayMs` when idle; whatever arrives meanwhile joins the next batch. So a quiet
 * server handles a payload at once, and a busy one writes few large batches instead of one
 * per request.
 *
 * Durability on acknowledgement (documented choice): `write()` resolves only once its batch
 * is durable, and the intake answers 202 only then, so an agent may drop what it sent
 * (docs/product.md §5). Two ways to be durable:
 *   - without a journal, the batch is committed to the database;
 *   - with a journal (point-journal.ts; the server uses one with SQLite), the batch is
 *     appended to the journal, and the batches are saved into the database every
 *     `saveIntervalMs` (and before every read, see `saveNow`), after which their journal
 *     files are deleted. A batch's journal file outlives a crash and is saved at the next
 *     start (`recover`).
 * When the database fails, requests fail (503) and agents retry: at once without a journal;
 * with one, once `maxUnsavedPoints` have piled up unsaved — until then the journal holds them
 * and saving is retried every interval. When the journal's disk refuses a write (full, no
 * inodes, over quota, read-only, EIO), that batch fails (503 with Retry-After,
 * INTAKE_STORAGE_FAILED) and the next batch tries again: it succeeds as soon as space returns.
 * A batch leaves `unsaved` only once the database has committed it, and its journal file only
 * after that.
 */
import { RekeyError, rekeyError } from '../errors.js';
import { encodeBatchRecord, pointsIn } from './batch-record.js';
import type { PointJournal, RecoveredJournal } from './point-journal.js';
import { pointCount, type CheckRunRecord, type HostSighting, type PointStore, type StoredSeries } from './point-store.js';

export interface PointWriterOptions {
  /** Wait this long before a batch when idle, to gather more (default 0: next tick). */
  flushDelayMs?: number;
  /** A batch holds at most this many points; the rest waits for the next (default 50,000). */
  maxBatchPoints?: number;
  /**
   * Without a journal: commit up to this many batches at once (default 1). A commit waits for
   * the database's log flush and round trips, not for CPU: one at a time, the requests that
   * arrive during a commit all wait for it and then for their own (PostgreSQL, 20 clients:
   * ~10 requests per batch, ~2-6 ms each, 0.26 of the floor). With several in flight, a batch
   * starts as soon as a slot is free and PostgreSQL flushes concurrent commits together. A
   * request is still answered only once its own batch has committed; requests that wait for
   * each other's answers (one agent's payloads) still commit in order, since a batch holds
   * only what arrived before it started. With a journal a batch is one synchronous append,
   * so this does not apply.
   */
  maxConcurrentBatches?: number;
  /** Told of every batch once it is durable or failed (for metrics). */
  onBatch?: (batch: { points: number; seconds: number; ok: boolean }) => void;
  /** Append batches here and save them into the database later (see the file's comment). */
  journal?: PointJournal;
  /** With a journal: save into the database this often (default 1000 ms)… */
  saveIntervalMs?: number;
  /** …or as soon as this many points are unsaved (default 500,000). */
  saveAtPoints?: number;
  /** With a journal: refuse batches (503) while this many points are unsaved (default 5,000,000). */
  maxUnsavedPoints?: number;
  /** Told when a save into the database fails; it is retried at the next interval. */
  onSaveError?: (error: unknown) => void;
}

interface Pending {
  series: StoredSeries[];
  /** Points in `series`. */
  points: number;
  hosts: HostSighting[];
  checkRuns: CheckRunRecord[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

const empty = (): Pending => ({ series: [], points: 0, hosts: [], checkRuns: [], waiters: [] });

export class PointWriter {
  private readonly delayMs: number;
  private readonly maxBatchPoints: number;
  private readonly maxConcurrentBatches: number;
  private readonly onBatch: PointWriterOptions['onBatch'];
  private readonly journal: PointJournal | undefined;
  private readonly saveAtPoints: number;
  private readonly maxUnsavedPoints: number;
  private readonly onSaveError: PointWriterOptions['onSaveError'];
  private queue: Pending[] = [empty()];
  /** Batches being made durable now (at most `maxConcurrentBatches`). */
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  /**
   * Journaled batches not yet in the database, oldest first, as their journal records: a
   * second's batches then live in a few off-heap buffers, not as objects the garbage collector
   * would copy while they wait (decoding them at the save measured slightly cheaper in CPU per
   * point than keeping the decoded batches, in alternating runs).
   */
  private unsaved: Uint8Array[] = [];
  private unsavedPoints = 0;
  /** The save in progress; saves run one at a time. */
  private saving: Promise<void> = Promise.resolve();
  private lastSaveError: unknown = undefined;
  private earlySaveQueued = false;
  private readonly saveTimer: NodeJS.Timeout | undefined;
  /** Counters for metrics and tests. */
  readonly stats = { batches: 0, points: 0, failures: 0, saves: 0, saveFailures: 0 };

  constructor(
    private readonly store: PointStore,
    options: PointWriterOptions = {},
  ) {
    this.delayMs = options.flushDelayMs ?? 0;
    this.maxBatchPoints = options.maxBatchPoints ?? 50_000;
    this.maxConcurrentBatches = options.journal ? 1 : Math.max(1, options.maxConcurrentBatches ?? 1);
    this.onBatch = options.onBatch;
    this.journal = options.journal;
    this.saveAtPoints = options.saveAtPoints ?? 500_000;
    this.maxUnsavedPoints = options.maxUnsavedPoints ?? 5_000_000;
    this.onSaveError = options.onSaveError;
    if (this.journal) {
      this.saveTimer = setInterval(() => void this.saveNow().catch(() => {}), options.saveIntervalMs ?? 1000);
      this.saveTimer.unref();
    }
  }

  /** Points acknowledged but not yet in the database (with a journal; else 0). */
  get unsavedPointCount(): number {
    return this.unsavedPoints;
  }

  /** Adds to the next batch; resolves once durable. */
  write(entry: { series?: readonly StoredSeries[]; hosts?: readonly HostSighting[]; checkRuns?: readonly CheckRunRecord[] }): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the point writer is closed'));
    let tail = this.queue[this.queue.length - 1]!;
    let count = 0;
    if (entry.series) for (const s of entry.series) count += pointCount(s.points);
    if (tail.points > 0 && tail.points + count > this.maxBatchPoints) {
      tail = empty();
      this.queue.push(tail);
    }
    if (entry.series) for (const s of entry.series) tail.series.push(s);
    tail.points += count;
    if (entry.hosts) for (const h of entry.hosts) tail.hosts.push(h);
    if (entry.checkRuns) for (const c of entry.checkRuns) tail.checkRuns.push(c);
    const done = new Promise<void>((resolve, reject) => tail.waiters.push({ resolve, reject }));
    this.schedule();
    return done;
  }

  /**
   * Saves every journaled batch into the database now (reads call this first, so a client
   * reads back what it was acknowledged). Without a journal there is nothing to do.
   * Rejects if the save fails; the batches stay in the journal for the next try.
   */
  saveNow(): Promise<void> {
    const next = this.saving.then(() => this.saveUnsaved());
    this.saving = next.catch(() => {});
    return next;
  }

  /**
   * Saves what earlier processes left in the journal directory (see PointJournal.recover),
   * then deletes those files. Call before serving. Returns the points saved, the torn or
   * corrupt stretches skipped and the points their headers claimed (never acknowledged).
   */
  async recover(recovered: RecoveredJournal): Promise<{ points: number; dropped: number; droppedPoints: number }> {
    let points = 0;
    // In groups, so a long journal does not have to fit in memory decoded all at once.
    for (let i = 0; i < recovered.records.length;) {
      const group: Uint8Array[] = [];
      let bytes = 0;
      while (i < recovered.records.length && (group.length === 0 || bytes < 64 * 1024 * 1024)) {
        bytes += recovered.records[i]!.byteLength;
        group.push(recovered.records[i++]!);
      }
      for (const record of group) points += pointsIn(record);
      await this.store.writeBatch({ series: [], hosts: [], checkRuns: [], records: group });
    }
    this.journal?.remove(recovered.files);
    return { points, dropped: recovered.dropped, droppedPoints: recovered.droppedPoints };
  }

  /** Commits everything pending, then refuses new writes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight > 0 || this.queue.some((p) => p.waiters.length > 0)) {
      if (this.inFlight === 0) await this.flushOne();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (this.saveTimer) clearInterval(this.saveTimer);
    if (this.journal) {
      let saved = false;
      try {
        await this.saveNow();
        saved = true;
      } finally {
        // Unsaved batches stay in their files, for the next start's recovery.
        this.journal.close(saved);
      }
    }
  }

  private schedule(): void {
    if (this.inFlight >= this.maxConcurrentBatches || this.scheduled) return;
    this.scheduled = true;
    const start = () => {
      this.scheduled = false;
      void this.drain();
    };
    if (this.delayMs > 0) setTimeout(start, this.delayMs).unref();
    else setImmediate(start);
  }

  private async drain(): Promise<void> {
    if (this.maxConcurrentBatches === 1) {
      if (this.inFlight > 0) return;
      while (this.queue[0]!.waiters.length > 0) await this.flushOne();
      return;
    }
    // Each finished batch starts the next at once with what arrived meanwhile (as the loop above does).
    while (this.inFlight < this.maxConcurrentBatches && this.queue[0]!.waiters.length > 0) {
      void this.flushOne().then(() => {
        if (!this.closed) void this.drain();
      });
    }
  }

  private async flushOne(): Promise<void> {
    const batch = this.queue.shift()!;
    if (this.queue.length === 0) this.queue.push(empty());
    if (batch.waiters.length === 0) return;
    this.inFlight += 1;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      if (this.journal) this.journalBatch(this.journal, batch);
      else await this.store.writeBatch(batch);
      this.stats.batches += 1;
      this.stats.points += batch.points;
      this.onBatch?.({ points: batch.points, seconds: seconds(), ok: true });
      for (const waiter of batch.waiters) waiter.resolve();
    } catch (error) {
      this.stats.failures += 1;
      this.onBatch?.({ points: batch.points, seconds: seconds(), ok: false });
      const failure = storageFailure(error);
      for (const waiter of batch.waiters) waiter.reject(failure);
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Appends the batch to the journal: synchronous, one write() (the hot path: no database work here). */
  private journalBatch(journal: PointJournal, batch: Pending): void {
    if (this.unsavedPoints >= this.maxUnsavedPoints && this.lastSaveError !== undefined) throw this.lastSaveError;
    const record = encodeBatchRecord(batch);
    journal.append(record);
    this.unsaved.push(record);
    this.unsavedPoints += batch.points;
    // One early save at a time: while it runs, later batches do not queue more behind it.
    if (this.unsavedPoints >= this.saveAtPoints && !this.earlySaveQueued) {
      this.earlySaveQueued = true;
      void this.saveNow()
        .catch(() => {})
        .finally(() => (this.earlySaveQueued = false));
    }
  }

  private async saveUnsaved(): Promise<void> {
    const journal = this.journal;
    if (!journal || this.unsaved.length === 0) return;
    // The records stay in `unsaved` (and their files on disk) until the database has them:
    // a failed rotation or save leaves both as they were, for the next try.
    const taken = this.unsaved.length;
    const records = this.unsaved.slice(0, taken);
    let points = 0;
    for (const record of records) points += pointsIn(record);
    try {
      // In the same tick as the slice above: every record taken is in a finished file now,
      // and appends go on in a new one. Throws (no space, no inodes) with nothing changed.
      const files = journal.rotate();
      await this.store.writeBatch({ series: [], hosts: [], checkRuns: [], records });
      this.unsaved = this.unsaved.slice(taken);
      this.unsavedPoints -= points;
      journal.remove(files);
    } catch (error) {
      this.lastSaveError = error;
      this.stats.saveFailures += 1;
      this.onSaveError?.(error);
      throw error;
    }
    this.lastSaveError = undefined;
    this.stats.saves += 1;
  }
}

/** How long a client should wait before retrying a batch the intake could not store. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

const STORAGE_REASONS: Record<string, string> = {
  ENOSPC: 'no space or no inodes left on the data directory',
  EDQUOT: 'disk quota exceeded on the data directory',
  EIO: 'input/output error on the data directory',
  EROFS: 'the data directory is read-only',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  SQLITE_FULL: 'the database disk is full',
  SQLITE_READONLY: 'the database is read-only',
  SQLITE_IOERR: 'input/output error in the database',
};

/**
 * A failed batch as the intake answers it: 503 INTAKE_STORAGE_FAILED with Retry-After, naming
 * the errno (never a path or the data). Errors that already carry a catalogue code (e.g. the
 * store's own) pass through.
 */
export function storageFailure(error: unknown): RekeyError {
  if (error instanceof RekeyError) return error;
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  const known = STORAGE_REASONS[code] ?? STORAGE_REASONS[code.replace(/_.*$/, '')] ?? STORAGE_REASONS[code.split('_').slice(0, 2).join('_')];
  const reason = known === undefined ? 'the store refused the write' : `${code}: ${known}`;
  return rekeyError('INTAKE_STORAGE_FAILED', { reason, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS }, { cause: error });
}
