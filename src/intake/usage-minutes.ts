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
 * The exception: keys with a points/min or bytes/day limit (key-limits.ts) have their current
 * minute written early, every couple of seconds (`flushCurrent`), so every node can count what
 * the others let through. Such a write holds what was counted since the last one (requests,
 * bytes and points are summed into the row) and the minute's distinct hosts so far (the row
 * keeps the largest), so writing a minute in parts adds up to writing it once.
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
  /** Of the counts above, what an early write (flushCurrent) already wrote. */
  written: Written;
}

interface Written {
  requests: number;
  bytes: number;
  points: number;
  hosts: number;
}

/** What this node has written of a key's current minute and UTC day (for key-limits.ts). */
export interface WrittenByThisNode {
  minute: number;
  minutePoints: number;
  day: number;
  dayBytes: number;
}

const DAY_MS = 86_400_000;
const nothingWritten = (): Written => ({ requests: 0, bytes: 0, points: 0, hosts: 0 });

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
  /** key id → what this node wrote of its current minute and day (kept for keys written early). */
  private readonly writtenByThisNode = new Map<string, WrittenByThisNode>();
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
    if (counts === undefined) keys.set(keyId, (counts = { requests: 0, bytes: 0, points: 0, hosts: new Set(), written: nothingWritten() }));
    counts.requests += usage.requests ?? 0;
    counts.bytes += usage.bytes ?? 0;
    counts.points += usage.points ?? 0;
    if (usage.hosts !== undefined) {
      for (const host of usage.hosts) if (host !== '' && counts.hosts.size < this.maxHosts) counts.hosts.add(host);
    }
  }

  /** This node's counts of `keyId` not yet written (hosts: each minute's so far), in [from, to] (minute starts, epoch ms), oldest first. */
  unwritten(keyId: string, from: number, to: number): KeyUsageMinute[] {
    const rows: KeyUsageMinute[] = [];
    for (const [minute, keys] of this.minutes) {
      const counts = keys.get(keyId);
      const row = counts !== undefined && minute >= from && minute <= to ? unwrittenRow(keyId, minute, counts) : undefined;
      if (row !== undefined) rows.push(row);
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
      for (const [minute, keys] of batch) {
        for (const [keyId, counts] of keys) {
          const row = unwrittenRow(keyId, minute, counts);
          if (row !== undefined) rows.push(row);
        }
      }
      return { write: () => this.write(rows), putBack: () => this.putBack(batch) };
    });
  }

  /**
   * Writes the current minute of `keyIds` now — what was counted since their last write (the
   * limited keys, so other nodes see it: key-limits.ts). A failed write is counted again next
   * time, reported to `onError` and rejects.
   */
  flushCurrent(keyIds: ReadonlySet<string>): Promise<void> {
    return this.flusher.run(() => {
      const minute = minuteOf(this.now());
      const keys = this.minutes.get(minute);
      if (keys === undefined) return undefined;
      const rows: KeyUsageMinute[] = [];
      const before = new Map<MinuteCounts, Written>();
      for (const keyId of keyIds) {
        const counts = keys.get(keyId);
        const row = counts === undefined ? undefined : unwrittenRow(keyId, minute, counts);
        if (counts === undefined || row === undefined) continue;
        rows.push(row);
        before.set(counts, counts.written);
        counts.written = { requests: counts.requests, bytes: counts.bytes, points: counts.points, hosts: counts.hosts.size };
      }
      if (rows.length === 0) return undefined;
      return {
        write: () => this.write(rows),
        putBack: () => {
          for (const [counts, written] of before) counts.written = written;
        },
      };
    });
  }

  /**
   * What this node has written (and the store acknowledged) of `keyId`'s minute starting at
   * `minute` and of the UTC day starting at `day`.
   */
  writtenOf(keyId: string, minute: number, day: number): { minutePoints: number; dayBytes: number } {
    const w = this.writtenByThisNode.get(keyId);
    return { minutePoints: w?.minute === minute ? w.minutePoints : 0, dayBytes: w?.day === day ? w.dayBytes : 0 };
  }

  private async write(rows: KeyUsageMinute[]): Promise<void> {
    await this.store.recordKeyUsageMinutes(rows);
    for (const row of rows) {
      const minute = row.minute.getTime();
      const day = minute - (((minute % DAY_MS) + DAY_MS) % DAY_MS);
      let w = this.writtenByThisNode.get(row.keyId);
      if (w === undefined) this.writtenByThisNode.set(row.keyId, (w = { minute, minutePoints: 0, day, dayBytes: 0 }));
      if (minute > w.minute) Object.assign(w, { minute, minutePoints: 0 });
      if (day > w.day) Object.assign(w, { day, dayBytes: 0 });
      if (minute === w.minute) w.minutePoints += row.points;
      if (day === w.day) w.dayBytes += row.bytes;
    }
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
          newer.written = {
            requests: newer.written.requests + counts.written.requests,
            bytes: newer.written.bytes + counts.written.bytes,
            points: newer.written.points + counts.written.points,
            hosts: Math.max(newer.written.hosts, counts.written.hosts),
          };
        }
      }
    }
  }
}

/** The start of the minute holding `ms` (epoch ms). */
export function minuteOf(ms: number): number {
  return ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
}

/** The counts not yet written (hosts: the minute's distinct hosts so far), or undefined when nothing changed. */
function unwrittenRow(keyId: string, minute: number, counts: MinuteCounts): KeyUsageMinute | undefined {
  const w = counts.written;
  const row = {
    keyId,
    minute: new Date(minute),
    requests: counts.requests - w.requests,
    bytes: counts.bytes - w.bytes,
    points: counts.points - w.points,
    hosts: counts.hosts.size,
  };
  const unchanged = row.requests === 0 && row.bytes === 0 && row.points === 0 && row.hosts === w.hosts;
  return unchanged && (w.requests > 0 || w.bytes > 0 || w.points > 0 || w.hosts > 0) ? undefined : row;
}
