/**
 * Slows down password guessing at the sign-in form, without letting anyone lock a user out.
 *
 * - Per (email, address) pair, a progressive delay: the first `freeFailures` failures cost
 *   nothing, then each further one doubles the wait before the next attempt (1 s, 2 s, 4 s …
 *   up to `maxDelayMs`). The pair is forgotten `windowMs` after its last failure, and a
 *   successful sign-in clears it. An attacker guessing from another address only delays
 *   themself: the real user's own pair is untouched (issue 15 row 8).
 * - Per address, a cap: `maxFailuresPerIp` failures within `windowMs` refuse every further
 *   attempt from that address (one address guessing many accounts).
 * - An "address" is an IPv4 address, or an IPv6 /64 (`addressKey`): anyone holding a /64 can
 *   send from any of its 2^64 addresses.
 * - An attempt is counted when it starts, BEFORE the password is checked (`begin`), and given
 *   back only if it succeeds (`succeeded`): parallel requests cannot all pass the check while
 *   the first ones are still hashing (issue 15 row 2). `begin` is synchronous, so on one
 *   Node.js event loop the check and the count cannot interleave.
 *
 * In memory and per node, like the sessions (src/ui/session-store.ts); bounded in size.
 *
 * @example
 *   const attempt = throttle.begin(ip, email);
 *   if (!attempt.allowed) return tooMany(attempt.retryAfterSeconds);
 *   if (await verifyPassword(...)) throttle.succeeded(attempt);
 */
import { createHash } from 'node:crypto';
import { addressKey } from '../server/client-address.js';

export interface LoginThrottleOptions {
  /** Failures per (email, address) before delays start. Default 3. */
  freeFailures?: number;
  /** The first delay; each further failure doubles it. Default 1 000 ms. */
  baseDelayMs?: number;
  /** Longest delay between two attempts of one pair. Default 15 minutes. */
  maxDelayMs?: number;
  /** Failures allowed per address within the window (all emails together). Default 20. */
  maxFailuresPerIp?: number;
  /** How long failures are remembered. Default 15 minutes. */
  windowMs?: number;
  /** Bound on tracked pairs and addresses. Default 50,000 each. */
  maxEntries?: number;
  now?: () => number;
}

interface PairState {
  failures: number;
  lastAt: number;
}

interface Window {
  count: number;
  startedAt: number;
}

/** A started attempt: counted already; `succeeded` gives it back. */
export type LoginAttempt = { allowed: true; ip: string; email: string; startedAt: number } | { allowed: false; retryAfterSeconds: number };

export class LoginThrottle {
  private readonly byPair = new Map<string, PairState>();
  private readonly byIp = new Map<string, Window>();
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxPerIp: number;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    this.freeFailures = options.freeFailures ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.maxPerIp = options.maxFailuresPerIp ?? 20;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 50_000;
    this.now = options.now ?? Date.now;
    if (this.freeFailures < 0 || this.baseDelayMs < 1 || this.maxDelayMs < this.baseDelayMs || this.maxPerIp < 1 || this.windowMs < 1) {
      throw new Error('login throttle: freeFailures >= 0, baseDelayMs >= 1, maxDelayMs >= baseDelayMs, maxFailuresPerIp >= 1, windowMs >= 1');
    }
  }

  /**
   * Starts an attempt: refused (with the seconds to wait) while the pair is delayed or the
   * address is capped; otherwise counted as a failure now, before the password is checked.
   */
  begin(address: string, email: string): LoginAttempt {
    const ip = addressKey(address);
    const now = this.now();
    const wait = this.waitSeconds(ip, email, now);
    if (wait > 0) return { allowed: false, retryAfterSeconds: wait };
    this.count(ip, email, now);
    return { allowed: true, ip, email, startedAt: now };
  }

  /** The attempt signed in: its pair is cleared and the address gets the attempt back. */
  succeeded(attempt: LoginAttempt): void {
    if (!attempt.allowed) return;
    this.byPair.delete(pairKey(attempt.ip, attempt.email));
    const window = this.byIp.get(attempt.ip);
    if (window !== undefined && window.startedAt <= attempt.startedAt && window.count > 0) window.count -= 1;
  }

  /** Seconds to wait before another attempt of this pair is allowed, or 0 when allowed now. */
  retryAfterSeconds(address: string, email: string): number {
    return this.waitSeconds(addressKey(address), email, this.now());
  }

  /** Counts a failure that did not go through `begin` (e.g. a wrong current password). */
  recordFailure(address: string, email: string): void {
    this.count(addressKey(address), email, this.now());
  }

  private waitSeconds(ip: string, email: string, now: number): number {
    let waitMs = 0;
    const window = this.byIp.get(ip);
    if (window !== undefined) {
      const endsAt = window.startedAt + this.windowMs;
      if (endsAt <= now) this.byIp.delete(ip);
      else if (window.count >= this.maxPerIp) waitMs = endsAt - now;
    }
    const key = pairKey(ip, email);
    const pair = this.byPair.get(key);
    if (pair !== undefined) {
      if (pair.lastAt + this.windowMs <= now) this.byPair.delete(key);
      else waitMs = Math.max(waitMs, pair.lastAt + this.delayAfter(pair.failures) - now);
    }
    return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
  }

  /** The wait after `failures` failures of a pair: none for the free ones, then doubling. */
  private delayAfter(failures: number): number {
    if (failures < this.freeFailures) return 0;
    const doublings = Math.min(failures - this.freeFailures, 30);
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** doublings);
  }

  private count(ip: string, email: string, now: number): void {
    const key = pairKey(ip, email);
    const pair = this.byPair.get(key);
    const failures = pair !== undefined && pair.lastAt + this.windowMs > now ? pair.failures + 1 : 1;
    remember(this.byPair, key, { failures, lastAt: now }, this.maxEntries);
    const window = this.byIp.get(ip);
    if (window === undefined || window.startedAt + this.windowMs <= now) {
      remember(this.byIp, ip, { count: 1, startedAt: now }, this.maxEntries);
    } else {
      window.count += 1;
    }
  }
}

/** Sets `key` as the most recent entry; forgets the least recent one beyond `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}

/**
 * The pair's key: a digest of the normalised email, so an entry costs the same whatever the
 * form sent (a 1 MB "email" kept as is held ~2 MB per failure for the whole window).
 */
function pairKey(ip: string, email: string): string {
  return `${createHash('sha256').update(email.trim().toLowerCase()).digest('base64url')}\n${ip}`;
}
