/**
 * Throttles repeated failed authentication from one address: an in-memory sliding window
 * (default 20 failures per 60 s per IPv4 address or IPv6 /64, client-address.ts). Once an address reaches the limit, every
 * authenticated request from it is answered 429 with `Retry-After` until its oldest
 * failure leaves the window — without a database lookup, so a guessing loop costs the
 * server almost nothing.
 *
 * In memory, per node: behind a load balancer each node throttles on its own, which
 * multiplies the allowance by the node count but keeps the check free of I/O.
 * Memory is bounded: at most `maxTrackedAddresses` addresses are tracked; the least
 * recently failing one is forgotten first.
 *
 * @example
 *   const throttle = createAuthThrottle({ maxFailures: 20, windowMs: 60_000 });
 *   const wait = throttle.retryAfterSeconds(ip); // 0 when allowed
 *   throttle.recordFailure(ip);
 */
import { addressKey } from './client-address.js';
export interface AuthThrottleOptions {
  /** Failures allowed within `windowMs` before the address is throttled. Default 20. */
  maxFailures?: number;
  /** Default 60 000. */
  windowMs?: number;
  /** Default 10 000. */
  maxTrackedAddresses?: number;
  now?: () => number;
}

export interface AuthThrottle {
  /** Seconds the address must wait before trying again; 0 when it may try now. */
  retryAfterSeconds(address: string): number;
  recordFailure(address: string): void;
}

export function createAuthThrottle(options: AuthThrottleOptions = {}): AuthThrottle {
  const maxFailures = options.maxFailures ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const maxTracked = options.maxTrackedAddresses ?? 10_000;
  const now = options.now ?? Date.now;
  if (maxFailures < 1 || windowMs < 1) throw new Error('auth throttle: maxFailures and windowMs must be positive');
  // Map iteration order is insertion order: re-inserting on each failure keeps the
  // least recently failing address first, ready for eviction.
  const failures = new Map<string, number[]>();

  function recent(address: string, at: number): number[] {
    const times = failures.get(address);
    if (times === undefined) return [];
    const kept = times.filter((t) => t > at - windowMs);
    if (kept.length === 0) failures.delete(address);
    else if (kept.length !== times.length) failures.set(address, kept);
    return kept;
  }

  return {
    retryAfterSeconds(ip) {
      const address = addressKey(ip);
      const at = now();
      const times = recent(address, at);
      if (times.length < maxFailures) return 0;
      // Allowed again when enough of the oldest failures have left the window.
      const unblockAt = times[times.length - maxFailures]! + windowMs;
      return Math.max(1, Math.ceil((unblockAt - at) / 1000));
    },
    recordFailure(ip) {
      const address = addressKey(ip);
      const at = now();
      const times = recent(address, at);
      times.push(at);
      // Keep only as many timestamps as the decision needs.
      if (times.length > maxFailures) times.splice(0, times.length - maxFailures);
      failures.delete(address);
      failures.set(address, times);
      if (failures.size > maxTracked) {
        const oldest = failures.keys().next().value;
        if (oldest !== undefined) failures.delete(oldest);
      }
    },
  };
}
