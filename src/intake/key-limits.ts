/**
 * The optional per-key limits (issue 19): requests per second, points per minute, bytes per
 * day, set by an admin on one API key (store.setApiKeyLimits: the API, `rekey key-limits set`)
 * and checked here, from memory, before a byte of the body is read (intake-auth.ts) — points/min
 * again once the body is decoded (`holdPoints`, below). A key over one is answered 429
 * API_KEY_QUOTA_EXCEEDED with Retry-After — the next second, the next minute or the next UTC
 * day; other keys are unaffected.
 *
 *  - requests/s: a token bucket holding one second's worth.
 *  - points/min: the points of the key's series payloads and the values of its distribution
 *    and sketch payloads this minute. A request is admitted while a point of the minute is
 *    left; once its body is decoded its points are held (`holdPoints`) — refused (429) if the
 *    points counted and those held by the key's other payloads in flight already reach the
 *    limit — and counted once it is stored or spooled (`settle`), or freed if it is not
 *    (`release`). So the payload that crosses the limit is still taken, and only one: payloads
 *    racing on one node cannot all pass a check made before any of them was counted (a hostile
 *    try: 64 simultaneous 1,000-point payloads under a 1,000 points/min limit, 11–12 admitted).
 *  - bytes/day: the bodies' bytes as sent, per UTC day; a request whose declared length
 *    (Content-Length) would cross the limit is refused, and the declared length is counted at
 *    once (so racing requests see it). A body without one (chunked) is admitted while a byte
 *    of the day is left and no other body of the key without a length is being read on this
 *    node, and counted once read (countBytes): it crosses the limit at most once per node.
 *
 * The limits are stored, so they hold across restarts, and re-read every `pollMs` (default
 * 2 s), so a change on one node reaches the others.
 *
 * Points/min and bytes/day count across nodes: on every re-read, each node writes the current
 * minute of its limited keys (usage-minutes.ts `flushCurrent`) and reads what all nodes wrote
 * (store.keyUsageTotals); a key is then judged on this node's own counts plus the others'
 * (everything written minus what this node wrote). So N nodes behind a load balancer let a key
 * through its limit plus what the other nodes admitted in the last one to two `pollMs` — not N
 * times the limit. A restart reads the minute and day back the same way, so it does not hand a
 * key a fresh day. Requests/s stays per node (a second is shorter than the sharing's lag): N
 * nodes allow N times it, like the intake's other rate limits.
 *
 * A key without limits costs one Map lookup per request.
 */
import type { ApiKeyLimits, StoredApiKeyLimits, Store } from '../store/store.js';
import { MINUTE_MS, minuteOf, type KeyUsageMinutes } from './usage-minutes.js';

const DAY_MS = 86_400_000;

/** Why a request was refused: which limit, and when to retry. */
export interface OverLimit {
  /** For the message: e.g. "5 requests per second". */
  limit: string;
  retryAfterSeconds: number;
}

interface Counters {
  /** Requests/s token bucket. */
  tokens: number;
  tokensAt: number;
  minute: number;
  /** This node's points of `minute`. */
  minutePoints: number;
  /** The other nodes' points of `minute`, as last read (0 until then). */
  othersMinutePoints: number;
  day: number;
  /** This node's bytes of `day`. */
  dayBytes: number;
  /** The other nodes' bytes of `day`, as last read. */
  othersDayBytes: number;
  /** Points of this node's payloads decoded but not yet stored or spooled (holdPoints); kept across minutes. */
  heldPoints: number;
  /** Bodies without a declared length being read on this node (bytes/day limited keys only). */
  undeclaredReading: number;
}

/**
 * The points of one decoded payload, held against its key's points/min until it is stored or
 * spooled (`settle`: counted in the minute it settles in) or is not (`release`: freed). Either
 * may be called once; later calls do nothing.
 */
export interface PointsHold {
  settle(): void;
  release(): void;
}

export type HoldResult = { held: PointsHold; over?: undefined } | { held?: undefined; over: OverLimit };

/** Runs a held payload's `write`: its points settle once it is stored, and are freed if it fails (the agent sends it again). */
export async function writeHeld(held: PointsHold, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    held.release();
    throw error;
  }
  held.settle();
}

/** The hold of a key without limits: counts nothing (countPoints ignores such a key too). */
const NOTHING_HELD: HoldResult = { held: { settle: () => undefined, release: () => undefined } };

export interface KeyLimitsOptions {
  now?: () => number;
  pollMs?: number;
  onError?: (error: unknown) => void;
}

export class KeyLimits {
  private limits = new Map<string, StoredApiKeyLimits>();
  private readonly counters = new Map<string, Counters>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly store: Store,
    /** This node's usage minutes: written early for limited keys, and what of them this node wrote. */
    private readonly usage: Pick<KeyUsageMinutes, 'flushCurrent' | 'writtenOf' | 'unwritten'>,
    private readonly options: KeyLimitsOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Reads the limits and every node's counts of the limited keys; then re-reads them every pollMs. */
  async start(): Promise<void> {
    await this.refresh();
    // A re-read still running when the next is due is not doubled: a slow database must not
    // pile re-reads up (before migration 011 a hostile try measured ~2.3 s for 2,000 keys'
    // shared totals; now two primary-key lookups a key, bench/key-usage-totals.ts).
    this.timer ??= setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      void this.refresh()
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => (this.polling = false));
    }, this.options.pollMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Re-reads every key's limits (after a change through this process, at once; else on the
   * timer), then shares the counts of the keys limited in points or bytes with the other nodes.
   */
  async refresh(): Promise<void> {
    const rows = await this.store.listApiKeyLimits();
    this.limits = new Map(rows.map((row) => [row.keyId, row]));
    for (const keyId of this.counters.keys()) if (!this.limits.has(keyId)) this.counters.delete(keyId);
    await this.shareCounts();
  }

  /** Writes this node's current minute of the limited keys, then reads what every node wrote. */
  private async shareCounts(): Promise<void> {
    const shared = new Set<string>();
    for (const limits of this.limits.values()) if (limits.pointsPerMinute !== null || limits.bytesPerDay !== null) shared.add(limits.keyId);
    if (shared.size === 0) return;
    // A failed write was reported by the usage minutes and is retried; the others' counts are still worth reading.
    await this.usage.flushCurrent(shared).catch(() => {});
    const now = this.now();
    const minute = minuteOf(now);
    const day = dayOf(now);
    const totals = await this.store.keyUsageTotals([...shared], { minute: new Date(minute), dayStart: new Date(day) });
    for (const keyId of shared) {
      const total = totals.get(keyId) ?? { minutePoints: 0, dayBytes: 0 };
      const mine = this.usage.writtenOf(keyId, minute, day);
      const c = this.countersOf(keyId, now);
      c.othersMinutePoints = Math.max(0, total.minutePoints - mine.minutePoints);
      c.othersDayBytes = Math.max(0, total.dayBytes - mine.dayBytes);
    }
  }

  /** The key's limits as this node holds them. */
  limitsOf(keyId: string): ApiKeyLimits | undefined {
    return this.limits.get(keyId);
  }

  /**
   * Admits one request of `bytes` (its declared Content-Length; 0 when unknown), counting it,
   * or says which limit it is over (nothing counted). Synchronous, no I/O.
   */
  admit(keyId: string, bytes: number): OverLimit | undefined {
    const limits = this.limits.get(keyId);
    if (limits === undefined) return undefined;
    const now = this.now();
    const c = this.countersOf(keyId, now);
    const rps = limits.requestsPerSecond;
    if (rps !== null) {
      c.tokens = Math.min(rps, c.tokens + ((now - c.tokensAt) / 1000) * rps);
      c.tokensAt = now;
      if (c.tokens < 1) return { limit: `${rps} requests per second`, retryAfterSeconds: Math.max(1, Math.ceil((1 - c.tokens) / rps)) };
    }
    const pointsOver = this.pointsOver(limits, c, now);
    if (pointsOver !== undefined) return pointsOver;
    if (limits.bytesPerDay !== null) {
      const bytesOver = { limit: `${limits.bytesPerDay} bytes per day`, retryAfterSeconds: secondsUntil(c.day + DAY_MS, now) };
      // A body of unknown length (0) needs at least one byte of the day left…
      if (c.dayBytes + c.othersDayBytes + Math.max(bytes, 1) > limits.bytesPerDay) return bytesOver;
      // … and no other such body of the key being read here: each may cross the limit once read.
      if (bytes === 0 && c.undeclaredReading > 0) return { ...bytesOver, retryAfterSeconds: 1 };
      if (bytes === 0) c.undeclaredReading++;
    }
    if (rps !== null) c.tokens -= 1;
    c.dayBytes += bytes;
    return undefined;
  }

  /**
   * Once a body admitted without a declared length (chunked) is read — `bytes` — or abandoned
   * (undefined: the read failed): counts its bytes against the key's bytes/day (admit() had
   * counted it as 0) and lets the key's next such body in. Only for a limited key.
   */
  countBytes(keyId: string, bytes: number | undefined): void {
    if (!this.limits.has(keyId)) return;
    const c = this.countersOf(keyId, this.now());
    c.undeclaredReading = Math.max(0, c.undeclaredReading - 1);
    if (bytes !== undefined) c.dayBytes += bytes;
  }

  /**
   * Holds a decoded payload's `points` against the key's points/min, or says the limit is
   * already reached by the points counted and those held by the key's payloads in flight
   * (nothing held). A key without a points limit always gets a hold, which holds nothing
   * (settling it counts the points as `countPoints` does). Synchronous, no I/O.
   */
  holdPoints(keyId: string, points: number): HoldResult {
    const limits = this.limits.get(keyId);
    // A key without any limit (nearly every request): nothing to hold or count, and no closures
    // made per request on the intake's path.
    if (limits === undefined) return NOTHING_HELD;
    let open = true;
    if (limits.pointsPerMinute === null) {
      // Nothing to hold against; the points still count (a bytes or requests limit, a points limit set later).
      const settle = () => {
        if (open) this.countPoints(keyId, points);
        open = false;
      };
      const release = () => {
        open = false;
      };
      return { held: { settle, release } };
    }
    const now = this.now();
    const c = this.countersOf(keyId, now);
    const over = this.pointsOver(limits, c, now);
    if (over !== undefined) return { over };
    c.heldPoints += points;
    const close = (count: boolean) => {
      if (!open) return;
      open = false;
      // The counters the hold was taken on (a limit removed and set again makes new ones).
      c.heldPoints = Math.max(0, c.heldPoints - points);
      if (count) this.countPoints(keyId, points);
    };
    return { held: { settle: () => close(true), release: () => close(false) } };
  }

  /** Whether the key's points/min is reached by what was counted (all nodes) and is held here. */
  private pointsOver(limits: StoredApiKeyLimits, c: Counters, now: number): OverLimit | undefined {
    if (limits.pointsPerMinute === null || c.minutePoints + c.othersMinutePoints + c.heldPoints < limits.pointsPerMinute) return undefined;
    return { limit: `${limits.pointsPerMinute} points per minute`, retryAfterSeconds: secondsUntil(c.minute + MINUTE_MS, now) };
  }

  /** Counts the points of a stored series or distribution payload against the key's points/min (only for a limited key). */
  countPoints(keyId: string, points: number): void {
    if (!this.limits.has(keyId)) return;
    this.countersOf(keyId, this.now()).minutePoints += points;
  }

  /** The key's counters, rolled over to the current minute and day. */
  private countersOf(keyId: string, now: number): Counters {
    const minute = minuteOf(now);
    const day = dayOf(now);
    let c = this.counters.get(keyId);
    if (c === undefined) {
      const rps = this.limits.get(keyId)?.requestsPerSecond ?? 1;
      const own = this.ownSoFar(keyId, minute, day);
      c = {
        tokens: rps,
        tokensAt: now,
        minute,
        minutePoints: own.minutePoints,
        othersMinutePoints: 0,
        day,
        dayBytes: own.dayBytes,
        othersDayBytes: 0,
        heldPoints: 0,
        undeclaredReading: 0,
      };
      this.counters.set(keyId, c);
    }
    if (c.minute !== minute) {
      c.minute = minute;
      c.minutePoints = 0;
      c.othersMinutePoints = 0;
    }
    if (c.day !== day) {
      c.day = day;
      c.dayBytes = 0;
      c.othersDayBytes = 0;
    }
    return c;
  }

  /**
   * What this node already counted of the key's minute and day, written or not: a limit set (or
   * removed and set again) on a key that already sent today starts from what it sent — as the
   * other nodes and a restarted node count it (they read it back from the store), and as
   * `shareCounts` assumes when it leaves this node's written counts out of the others'.
   */
  private ownSoFar(keyId: string, minute: number, day: number): { minutePoints: number; dayBytes: number } {
    const own = { ...this.usage.writtenOf(keyId, minute, day) };
    for (const row of this.usage.unwritten(keyId, day, minute)) {
      own.dayBytes += row.bytes;
      if (row.minute.getTime() === minute) own.minutePoints += row.points;
    }
    return own;
  }
}

/** The start of the UTC day holding `ms`. */
function dayOf(ms: number): number {
  return ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
}

function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}
