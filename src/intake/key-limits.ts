/**
 * The optional per-key limits (issue 19): requests per second, points per minute, bytes per
 * day, set by an admin on one API key (store.setApiKeyLimits: the API, `rekey key-limits set`)
 * and checked here, from memory, before a byte of the body is read (intake-auth.ts). A key
 * over one is answered 429 API_KEY_QUOTA_EXCEEDED with Retry-After — the next second, the
 * next minute or the next UTC day; other keys are unaffected.
 *
 *  - requests/s: a token bucket holding one second's worth.
 *  - points/min: the points of the key's series payloads and the values of its distribution
 *    payloads this minute (counted once decoded, so the payload that crosses the limit is
 *    still stored; the next one is refused).
 *  - bytes/day: the bodies' bytes as sent, per UTC day; a request whose declared length
 *    (Content-Length) would cross the limit is refused. A body without one (chunked) is
 *    admitted while a byte of the day is left and counted once read (countBytes), so it
 *    crosses the limit at most once, like the payload that crosses points/min.
 *
 * The limits are stored, so they hold across restarts, and re-read every `pollMs` (default
 * 2 s), so a change on one node reaches the others; at start the counts of the current
 * minute and UTC day are read back from the usage minutes (usage-minutes.ts), so a restart
 * does not hand a key a fresh day. Counts are per node: N nodes behind a load balancer let
 * a key through up to N times its limit, like the intake's other rate limits.
 *
 * A key without limits costs one Map lookup per request.
 */
import type { ApiKeyLimits, StoredApiKeyLimits, Store } from '../store/store.js';
import { MINUTE_MS, minuteOf } from './usage-minutes.js';

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
  minutePoints: number;
  day: number;
  dayBytes: number;
}

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

  constructor(
    private readonly store: Store,
    private readonly options: KeyLimitsOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Reads the limits and, for limited keys, this minute's points and today's bytes; then re-reads every pollMs. */
  async start(): Promise<void> {
    await this.refresh();
    const now = this.now();
    const day = dayOf(now);
    for (const limits of this.limits.values()) {
      if (limits.pointsPerMinute === null && limits.bytesPerDay === null) continue;
      const minutes = await this.store.listKeyUsageMinutes(limits.orgId, limits.keyId, { from: new Date(day), to: new Date(now) });
      const counters = this.countersOf(limits.keyId, now);
      for (const m of minutes) {
        counters.dayBytes += m.bytes;
        if (m.minute.getTime() === counters.minute) counters.minutePoints += m.points;
      }
    }
    this.timer ??= setInterval(() => void this.refresh().catch((error: unknown) => this.options.onError?.(error)), this.options.pollMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-reads every key's limits (after a change through this process, at once; else on the timer). */
  async refresh(): Promise<void> {
    const rows = await this.store.listApiKeyLimits();
    this.limits = new Map(rows.map((row) => [row.keyId, row]));
    for (const keyId of this.counters.keys()) if (!this.limits.has(keyId)) this.counters.delete(keyId);
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
    if (limits.pointsPerMinute !== null && c.minutePoints >= limits.pointsPerMinute) {
      return { limit: `${limits.pointsPerMinute} points per minute`, retryAfterSeconds: secondsUntil(c.minute + MINUTE_MS, now) };
    }
    // A body of unknown length (0) needs at least one byte of the day left.
    if (limits.bytesPerDay !== null && c.dayBytes + Math.max(bytes, 1) > limits.bytesPerDay) {
      return { limit: `${limits.bytesPerDay} bytes per day`, retryAfterSeconds: secondsUntil(c.day + DAY_MS, now) };
    }
    if (rps !== null) c.tokens -= 1;
    c.dayBytes += bytes;
    return undefined;
  }

  /**
   * Counts the bytes of a body whose length was not declared (chunked), once read, against the
   * key's bytes/day (only for a limited key): admit() had counted it as 0.
   */
  countBytes(keyId: string, bytes: number): void {
    if (!this.limits.has(keyId)) return;
    this.countersOf(keyId, this.now()).dayBytes += bytes;
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
      c = { tokens: rps, tokensAt: now, minute, minutePoints: 0, day, dayBytes: 0 };
      this.counters.set(keyId, c);
    }
    if (c.minute !== minute) {
      c.minute = minute;
      c.minutePoints = 0;
    }
    if (c.day !== day) {
      c.day = day;
      c.dayBytes = 0;
    }
    return c;
  }
}

/** The start of the UTC day holding `ms`. */
function dayOf(ms: number): number {
  return ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
}

function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}
