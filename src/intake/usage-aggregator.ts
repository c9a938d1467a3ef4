/**
 * Aggregates key usage in memory — per (key, host): first/last seen, points, agent version —
 * and writes it with `store.recordKeyUsage` at most once per `intervalMs` (default 1 s) and on
 * close, through the shared WriteBehind (write-behind.ts). The intake's hot path therefore
 * never writes to the database for usage; the cost is that up to one interval of usage is
 * lost if the process dies (usage is informational).
 *
 * The same sightings feed the per-minute time series (usage-minutes.ts: points and distinct
 * hosts per key and minute), which the intake's authentication adds requests and bytes to.
 */
import type { KeyUsageDelta, Store } from '../store/store.js';
import type { KeyUsageMinutes } from './usage-minutes.js';
import { WriteBehind } from './write-behind.js';

export interface UsageAggregatorOptions {
  intervalMs?: number;
  now?: () => number;
  onError?: (error: unknown) => void;
  /** Also counts each sighting's points and host in the key's usage minute (usage-minutes.ts). */
  minutes?: KeyUsageMinutes;
}

export class UsageAggregator {
  private readonly buffer: WriteBehind<KeyUsageDelta>;
  private readonly now: () => number;
  private readonly minutes: KeyUsageMinutes | undefined;

  constructor(store: Store, options: UsageAggregatorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.minutes = options.minutes;
    this.buffer = new WriteBehind<KeyUsageDelta>({
      keyOf: (d) => `${d.keyId}\u0000${d.host}`,
      merge: (seen, d) => {
        if (d.firstSeen < seen.firstSeen) seen.firstSeen = d.firstSeen;
        if (d.lastSeen > seen.lastSeen) seen.lastSeen = d.lastSeen;
        seen.points += d.points;
        if (d.agentVersion != null) seen.agentVersion = d.agentVersion;
      },
      write: (deltas) => store.recordKeyUsage(deltas),
      ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
      ...(options.onError === undefined ? {} : { onError: options.onError }),
    });
  }

  get stats(): { flushes: number; failures: number } {
    return this.buffer.stats;
  }

  start(): void {
    this.buffer.start();
  }

  /** Notes that `keyId` was used by `host` for `points` points. Synchronous, no I/O. */
  record(keyId: string, host: string, points: number, agentVersion: string | null = null): void {
    const at = new Date(this.now());
    this.minutes?.count(keyId, { points, ...(host === '' ? {} : { hosts: [host] }) });
    this.buffer.record({ keyId, host, firstSeen: at, lastSeen: at, points, agentVersion });
  }

  /** Writes what has accumulated. A failure is reported to `onError` and retried on the next flush. */
  flush(): Promise<void> {
    return this.buffer.flush().catch(() => {});
  }

  /** Writes what is pending; never throws (usage is informational: a failure was reported). */
  async close(): Promise<void> {
    await this.buffer.close().catch(() => {});
  }
}
