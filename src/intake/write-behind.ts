/**
 * Write-behind for summaries the intake keeps in memory: entries merge per key as requests
 * record them (synchronously, no I/O) and are written in one batch at most once per
 * `intervalMs` (default 1 s), on `flush()` and on `close()`. Key usage (usage-aggregator.ts)
 * and host sightings (host-sightings.ts) both use it, so the request path never writes either.
 *
 * Flushes are serialised, so batches never overlap. A batch that fails to write is merged back
 * (with anything newer) for the next attempt, reported to `onError`, and rejects the `flush()`
 * that asked for it — a read that flushes first then fails instead of answering without it.
 */
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
  private flushing: Promise<void> = Promise.resolve();
  readonly stats = { flushes: 0, failures: 0 };

  constructor(private readonly options: WriteBehindOptions<T>) {}

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
    const run = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.options.write(batch);
        this.stats.flushes += 1;
      } catch (error) {
        this.stats.failures += 1;
        for (const entry of batch) this.record(entry);
        this.options.onError?.(error);
        throw error;
      }
    });
    this.flushing = run.catch(() => {});
    return run;
  }

  /** Stops the timer and writes what is pending (rejects if that write fails). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
