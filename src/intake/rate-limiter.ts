/**
 * Token buckets by id (an API key's id, a client address), in memory and bounded, for the
 * intake's rate limits: a bucket holds up to `burst` tokens and refills at `perSecond`; a
 * request takes one, and when none is left the caller answers 429 with the returned
 * `Retry-After`. Per node: N nodes allow N times the rate (documented in docs/security.md).
 *
 * Bounded: at `maxEntries` ids, buckets that have refilled completely (indistinguishable from
 * a new one) are dropped; if none has, the oldest tenth goes. So a flood of distinct ids
 * costs memory up to the bound and amortised O(1) per request, and the worst an evicted id
 * gains is a fresh burst.
 *
 * @example
 *   const perKey = new RateLimiter({ perSecond: 1000, burst: 2000 });
 *   const wait = perKey.take(key.id); // 0: go on; otherwise seconds for Retry-After
 */
export interface RateLimit {
  /** Sustained requests per second. */
  readonly perSecond: number;
  /** Requests allowed at once after a quiet spell. */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  /** Epoch ms of the last refill. */
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    readonly limit: RateLimit,
    options: { now?: () => number; maxEntries?: number } = {},
  ) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1))
      throw new Error(`rate limit needs perSecond > 0 and burst >= 1 (got ${limit.perSecond}/s, burst ${limit.burst})`);
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes `cost` tokens from `id`'s bucket: 0 when they were there, else whole seconds until they will be (≥ 1), nothing taken. */
  take(id: string, cost = 1): number {
    const bucket = this.refilled(id);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    return this.secondsUntil(bucket, cost);
  }

  /** Like `take` without taking: 0 when `cost` tokens are there. */
  check(id: string, cost = 1): number {
    const bucket = this.buckets.get(id);
    if (bucket === undefined) return 0;
    this.refill(bucket);
    return bucket.tokens >= cost ? 0 : this.secondsUntil(bucket, cost);
  }

  private secondsUntil(bucket: Bucket, cost: number): number {
    return Math.max(1, Math.ceil((cost - bucket.tokens) / this.limit.perSecond));
  }

  private refill(bucket: Bucket): void {
    const now = this.now();
    if (now > bucket.at) {
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
      bucket.at = now;
    }
  }

  private refilled(id: string): Bucket {
    const existing = this.buckets.get(id);
    if (existing !== undefined) {
      this.refill(existing);
      return existing;
    }
    if (this.buckets.size >= this.maxEntries) this.evict();
    const bucket = { tokens: this.limit.burst, at: this.now() };
    this.buckets.set(id, bucket);
    return bucket;
  }

  private evict(): void {
    for (const [id, bucket] of this.buckets) {
      this.refill(bucket);
      if (bucket.tokens >= this.limit.burst) this.buckets.delete(id);
    }
    if (this.buckets.size < this.maxEntries) return;
    // Map iteration is insertion order: drop the oldest tenth.
    let drop = Math.ceil(this.maxEntries / 10);
    for (const id of this.buckets.keys()) {
      this.buckets.delete(id);
      if (--drop === 0) break;
    }
  }
}
