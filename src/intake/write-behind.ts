/**
 * Write-behind for summaries the intake keeps in memory: entries merge per key as requests
 * record them (synchronously, no I/O) and are written in one batch at most once per
 * `intervalMs` (default 1 s), on `flush()` and on `close()`. Key usage (usage-aggregator.ts)
 * and host sightings (host-sightings.ts) both use it, so the request path never writes either.
 *
 * Flushes are serialised, and a failed batch merged back for the next attempt (serial-flush.ts).
 */
import { SerialFlush } from './serial-flush.js';

export interface WriteBehindOptions<T> {
  keyOf: (entry: T) => string;
  /** Folds `next` into `pending` (an entry this buffer owns and may change). */
  merge: (pending: T, next: T) => void;
  write: (entries: T[]) => Promise<void>;
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export class WriteBehind<T> {
  private pending = new Map<string, T>();
  private timer: NodeJS.Timeout | undefined;
  private readonly flusher: SerialFlush;

  constructor(private readonly options: WriteBehindOptions<T>) {
    this.flusher = new SerialFlush(options.onError);
  }

  /** Batches written, and failed writes. */
  get stats(): { flushes: number; failures: number } {
    return this.flusher.stats;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush().catch(() => {}), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Merges `entry` into what is pending. Synchronous, no I/O; `entry` is copied, never kept. */
  record(entry: T): void {
    const key = this.options.keyOf(entry);
    const seen = this.pending.get(key);
    if (seen === undefined) this.pending.set(key, { ...entry });
    else this.options.merge(seen, entry);
  }

  flush(): Promise<void> {
    return this.flusher.run(() => {
      if (this.pending.size === 0) return undefined;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      return { write: () => this.options.write(batch), putBack: () => batch.forEach((entry) => this.record(entry)) };
    });
  }

  /** Stops the timer and writes what is pending (rejects if that write fails). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
