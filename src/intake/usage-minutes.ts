/**
 * Per-key usage as a time series (issue 19): for every API key and every minute, the intake
 * requests it made, their body bytes as sent (still compressed), the points of its series
 * payloads and the distinct hosts those named — counted in memory by the intake (standalone
 * and relay mode alike) and written with `store.recordKeyUsageMinutes` once a minute is over,
 * and on close.
 *
 * Why in memory, not a write per request: measured with `node --import tsx
 * bench/usage-write-cost.ts` on the shared 2-core machine (2026-11-30, load 4.9), one upsert of
 * one usage row through the store (SQLite, the default) took 515 µs per call, one `count()`
 * here 0.4 µs — while a whole intake request costs ~1,000 µs of server CPU (bench/RESULTS.md,
 * intake-auth-overhead). A write per request would add about half again to every request and
 * queue behind the point writer for the database's one writer; one batched write a minute
 * costs nothing measurable. The cost: a crash loses at most the unwritten minutes' counts of
 * that node (usage is informational; the limits are checked from memory anyway).
 *
 * Only finished minutes are written by the timer, so a minute's distinct hosts are counted
 * whole on each node; a minute written in two parts (a close, then the same minute after a
 * restart) keeps the larger host count, as does a minute several nodes wrote.
 *
 * @example
 *   const usage = new KeyUsageMinutes(store, { now });
 *   usage.start();
 *   usage.count(key.id, { requests: 1, bytes: 512 });          // at authentication
 *   usage.count(key.id, { points: 100, hosts: ['web-1'] });     // once a series payload is decoded
 */
import type { KeyUsageMinute, Store } from '../store/store.js';
import { SerialFlush } from './serial-flush.js';

export const MINUTE_MS = 60_000;

interface MinuteCounts {
  requests: number;
  bytes: number;
  points: number;
  hosts: Set<string>;
}

export interface KeyUsageMinutesOptions {
  now?: () => number;
  /** How often finished minutes are written (default 60 s; they are written once over either way). */
  flushIntervalMs?: number;
  onError?: (error: unknown) => void;
  /** Most distinct hosts counted per key and minute on one node (default 10,000): bounds memory. */
  maxHostsPerMinute?: number;
}

export interface UsageCount {
  requests?: number;
  bytes?: number;
  points?: number;
  hosts?: Iterable<string>;
}

export class KeyUsageMinutes {
  /** minute start (epoch ms) → key id → counts. */
  private minutes = new Map<number, Map<string, MinuteCounts>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly flusher: SerialFlush;
  private readonly now: () => number;
  private readonly maxHosts: number;

  constructor(
    private readonly store: Store,
    private readonly options: KeyUsageMinutesOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxHosts = options.maxHostsPerMinute ?? 10_000;
    this.flusher = new SerialFlush(options.onError);
  }

  /** Batches written, and failed writes. */
  get stats(): { flushes: number; failures: number } {
    return this.flusher.stats;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush().catch(() => {}), this.options.flushIntervalMs ?? MINUTE_MS);
    this.timer.unref();
  }

  /** Adds to `keyId`'s counts of the current minute. Synchronous, no I/O. */
  count(keyId: string, usage: UsageCount): void {
    const minute = minuteOf(this.now());
    let keys = this.minutes.get(minute);
    if (keys === undefined) this.minutes.set(minute, (keys = new Map()));
    let counts = keys.get(keyId);
    if (counts === undefined) keys.set(keyId, (counts = { requests: 0, bytes: 0, points: 0, hosts: new Set() }));
    counts.requests += usage.requests ?? 0;
    counts.bytes += usage.bytes ?? 0;
    counts.points += usage.points ?? 0;
    if (usage.hosts !== undefined) {
      for (const host of usage.hosts) if (host !== '' && counts.hosts.size < this.maxHosts) counts.hosts.add(host);
    }
  }

  /** This node's counts of `keyId` not yet written, in [from, to] (minute starts, epoch ms), oldest first. */
  unwritten(keyId: string, from: number, to: number): KeyUsageMinute[] {
    const rows: KeyUsageMinute[] = [];
    for (const [minute, keys] of this.minutes) {
      const counts = keys.get(keyId);
      if (counts !== undefined && minute >= from && minute <= to) rows.push(toRow(keyId, minute, counts));
    }
    return rows.sort((a, b) => a.minute.getTime() - b.minute.getTime());
  }

  /**
   * Writes the finished minutes (all of them with `all`, as on close). A failed write keeps its
   * minutes for the next attempt (merged with anything counted since), is reported to
   * `onError` and rejects.
   */
  flush(all = false): Promise<void> {
    return this.flusher.run(() => {
      const current = minuteOf(this.now());
      const batch = new Map<number, Map<string, MinuteCounts>>();
      for (const [minute, keys] of this.minutes) {
        if (all || minute < current) batch.set(minute, keys);
      }
      if (batch.size === 0) return undefined;
      for (const minute of batch.keys()) this.minutes.delete(minute);
      const rows: KeyUsageMinute[] = [];
      for (const [minute, keys] of batch) for (const [keyId, counts] of keys) rows.push(toRow(keyId, minute, counts));
      return { write: () => this.store.recordKeyUsageMinutes(rows), putBack: () => this.putBack(batch) };
    });
  }

  /** Stops the timer and writes every minute, the current one too (rejects if that fails). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  private putBack(batch: Map<number, Map<string, MinuteCounts>>): void {
    for (const [minute, keys] of batch) {
      const now = this.minutes.get(minute);
      if (now === undefined) {
        this.minutes.set(minute, keys);
        continue;
      }
      for (const [keyId, counts] of keys) {
        const newer = now.get(keyId);
        if (newer === undefined) now.set(keyId, counts);
        else {
          newer.requests += counts.requests;
          newer.bytes += counts.bytes;
          newer.points += counts.points;
          for (const host of counts.hosts) newer.hosts.add(host);
        }
      }
    }
  }
}

/** The start of the minute holding `ms` (epoch ms). */
export function minuteOf(ms: number): number {
  return ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
}

function toRow(keyId: string, minute: number, counts: MinuteCounts): KeyUsageMinute {
  return { keyId, minute: new Date(minute), requests: counts.requests, bytes: counts.bytes, points: counts.points, hosts: counts.hosts.size };
}
