/**
 * The intake's request rate limits, per node: answered 429 with Retry-After beyond them
 * (intake-auth.ts applies them before a byte of the body is read). docs/security.md,
 * "The intake under abuse".
 */
import type { RateLimit } from './rate-limiter.js';

export interface IntakeRateLimits {
  /** Intake requests per API key. */
  perKey: RateLimit;
  /** Intake requests per client address (`request.ip`), counted before the key is checked. */
  perAddress: RateLimit;
  /** Lookups of unknown well-formed keys per client address. */
  unknownKeysPerAddress: RateLimit;
  /**
   * Refused payloads (400/413/415: too large, too complex, corrupt, invalid) per API key. An
   * agent almost never sends one; a key that keeps sending them is answered 429 before its
   * body is even read, so it cannot keep the intake decompressing and scanning bombs.
   */
  refusedPayloadsPerKey: RateLimit;
}

/**
 * The request limits sit above what one node serves (about 7,000 100-point requests/s for the
 * bare floor on the 2-core CI machine), so they never throttle a real fleet: the product's main
 * case is ONE organisation key in every agent, and a proxy without `--trust-proxy` makes the
 * whole fleet one address. At 2,000/s per key and 1,000/s per address (the first defaults),
 * `bench/intake-shipped-server.ts` measured the shipped server answering 429 to most of one
 * key's load at 0.20 of the floor. What bounds an abusive key holder is the work caps and the
 * refused-payload budget (bench/abuse.ts). Key guessing gets 10 lookups/s per address.
 */
export const DEFAULT_INTAKE_RATE_LIMITS: IntakeRateLimits = {
  perKey: { perSecond: 20_000, burst: 40_000 },
  perAddress: { perSecond: 20_000, burst: 40_000 },
  unknownKeysPerAddress: { perSecond: 10, burst: 100 },
  refusedPayloadsPerKey: { perSecond: 5, burst: 50 },
};
