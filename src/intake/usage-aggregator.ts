/**
 * Aggregates key usage in memory — per (key, host): first/last seen, points, agent version —
 * and writes it with `store.recordKeyUsage` at most once per `intervalMs` (default 1 s) and on
 * close. The intake's hot path therefore never writes to the database for usage; the cost is
 * that up to one interval of usage is lost if the process dies (usage is informational).
 */
import type { KeyUsageDelta, Store } from '../store/store.js';

export interface UsageAggregatorOptions {
  intervalMs?: number;
  now?: () => number;
  onError?: (error: unknown) => void;
}

export class UsageAggregator {
  private pending = new Map<string, KeyUsageDelta>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  readonly stats = { flushes: 0, failures: 0 };

  constructor(
    private readonly store: Store,
    private readonly options: UsageAggregatorOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Notes that `keyId` was used by `host` for `points` points. Synchronous, no I/O. */
  record(keyId: string, host: string, points: number, agentVersion: string | null = null): void {
    const at = new Date(this.now());
    const id = `${keyId}\u0000${host}`;
    const seen = this.pending.get(id);
    if (seen === undefined) {
      this.pending.set(id, { keyId, host, firstSeen: at, lastSeen: at, points, agentVersion });
    } else {
      seen.lastSeen = at;
      seen.points += points;
      if (agentVersion !== null) seen.agentVersion = agentVersion;
    }
  }

  /** Writes what has accumulated; serialised, so batches never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.store.recordKeyUsage(batch);
        this.stats.flushes += 1;
      } catch (error) {
        this.stats.failures += 1;
        // Put it back (merged with anything newer) for the next attempt.
        for (const delta of batch) this.record(delta.keyId, delta.host, delta.points, delta.agentVersion ?? null);
        this.options.onError?.(error);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
