/**
 * Batches the intake's writes: requests add their points, and one writer commits them in
 * batches (group commit). A batch starts as soon as the previous one has committed, or after
 * `flushDelayMs` when idle; whatever arrives meanwhile joins the next batch. So a quiet
 * server stores a payload within one transaction's time, and a busy one writes few large
 * transactions instead of one per request.
 *
 * Durability on acknowledgement (documented choice): `write()` resolves only once its points
 * are committed, and the intake answers 202 only then. A 202 therefore means "stored": the
 * agent may drop the payload, which its zero-loss promise (PRODUCT.md §5) relies on. When
 * the database fails, every waiting request fails (503) and the agent retries.
 */
import type { CheckRunRecord, HostSighting, PointStore, StoredSeries } from './point-store.js';

export interface PointWriterOptions {
  /** Wait this long before a batch when idle, to gather more (default 0: next tick). */
  flushDelayMs?: number;
  /** A batch holds at most this many points; the rest waits for the next (default 50,000). */
  maxBatchPoints?: number;
  /** Told of every batch once it has committed or failed (for metrics). */
  onBatch?: (batch: { points: number; seconds: number; ok: boolean }) => void;
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
  private readonly onBatch: PointWriterOptions['onBatch'];
  private queue: Pending[] = [empty()];
  private running = false;
  private scheduled = false;
  private closed = false;
  /** Counters for metrics and tests. */
  readonly stats = { batches: 0, points: 0, failures: 0 };

  constructor(
    private readonly store: PointStore,
    options: PointWriterOptions = {},
  ) {
    this.delayMs = options.flushDelayMs ?? 0;
    this.maxBatchPoints = options.maxBatchPoints ?? 50_000;
    this.onBatch = options.onBatch;
  }

  /** Adds to the next batch; resolves once committed. */
  write(entry: { series?: readonly StoredSeries[]; hosts?: readonly HostSighting[]; checkRuns?: readonly CheckRunRecord[] }): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the point writer is closed'));
    let tail = this.queue[this.queue.length - 1]!;
    let count = 0;
    if (entry.series) for (const s of entry.series) count += s.points.length;
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

  /** Commits everything pending, then refuses new writes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running || this.queue.some((p) => p.waiters.length > 0)) {
      if (!this.running) await this.flushOne();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    const start = () => {
      this.scheduled = false;
      void this.drain();
    };
    if (this.delayMs > 0) setTimeout(start, this.delayMs).unref();
    else setImmediate(start);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    while (this.queue[0]!.waiters.length > 0) await this.flushOne();
  }

  private async flushOne(): Promise<void> {
    const batch = this.queue.shift()!;
    if (this.queue.length === 0) this.queue.push(empty());
    if (batch.waiters.length === 0) return;
    this.running = true;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      await this.store.writeBatch(batch);
      this.stats.batches += 1;
      this.stats.points += batch.points;
      this.onBatch?.({ points: batch.points, seconds: seconds(), ok: true });
      for (const waiter of batch.waiters) waiter.resolve();
    } catch (error) {
      this.stats.failures += 1;
      this.onBatch?.({ points: batch.points, seconds: seconds(), ok: false });
      for (const waiter of batch.waiters) waiter.reject(error);
    } finally {
      this.running = false;
    }
  }
}
