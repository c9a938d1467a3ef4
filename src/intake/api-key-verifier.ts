/**
 * Verifies intake API keys from memory (docs/product.md §6: every node verifies keys from memory).
 *
 *  - A malformed key (parseKey: length, hex, checksum) is refused before any lookup.
 *  - Lookups are cached by the key's hash in two bounded maps: keys that exist (active,
 *    revoked or expired) in one, "unknown" hashes in a separate, smaller negative cache. A
 *    stream of random well-formed keys fills only the negative cache, so it can never evict
 *    a real key. Concurrent requests for one hash share one in-flight load.
 *  - A lookup that finds nothing spends from the caller's `LookupBudget` (the intake gives
 *    each client address one, rate-limited); with the budget spent, a key that is not cached
 *    is not looked up at all: the verdict is `throttled` (the intake answers 429). So guessing
 *    costs at most one database read per allowed guess per address.
 *  - Every entry lives at most `ttlMs` (≤ 5 s): a lost notification cannot keep a revoked key
 *    alive longer than that.
 *  - Revocations arrive through `store.watchKeyChanges`: in-process before the revoke call
 *    returns (so the very next request is refused), from other nodes via LISTEN/NOTIFY.
 *    `onReset()` (the feed was interrupted) drops the whole cache.
 *  - Expiry (`expiresAt`, set by a roll) is checked at request time against the clock, so
 *    an expiring key stops at its instant, cached or not.
 *
 * The lookup hash is an HMAC under the deployment secret (key-hasher.ts), 1.3 µs a key on the
 * 2-core CI machine, and with the format check (0.5 µs) it was most of a cached verification
 * (2.6 µs). So each well-formed key's HMAC is remembered under its SHA-256 digest (0.22 µs with
 * crypto.hash, no object): a key seen before costs one digest and two map lookups, and the
 * format check is skipped since only well-formed keys are remembered. The memo holds digests,
 * never a key; the HMAC of a key never changes, so a revoke needs nothing from it; it is
 * bounded like the caches.
 *
 * A change that arrives while a load for the same hash is in flight invalidates that load
 * (a generation counter), so a read that began before a revoke committed can never put the
 * old "active" row back into the cache.
 */
import { hash as digestOf } from 'node:crypto';
import { parseKey } from '../keys/key-format.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { ApiKey, Store } from '../store/store.js';

export type Verdict =
  | { ok: true; key: ApiKey }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

/** How many lookups that find nothing a caller may still cause (the intake: one per address). */
export interface LookupBudget {
  /** 0 when a lookup may be made, else seconds until one may. */
  check(): number;
  /** A lookup found nothing. */
  spend(): void;
}

interface Entry {
  key: ApiKey;
  /** Epoch ms after which the entry is reloaded. */
  staleAt: number;
}

export interface ApiKeyVerifierOptions {
  /** Bounded lifetime of a cache entry; at most 5000 ms (default 5000). */
  ttlMs?: number;
  /** Most existing keys kept; the oldest tenth is dropped beyond it (default 100,000). */
  maxEntries?: number;
  /** Most unknown hashes kept, apart from the existing keys; the oldest tenth is dropped beyond it (default 20,000). */
  maxUnknownEntries?: number;
  now?: () => number;
}

export class ApiKeyVerifier {
  private readonly cache = new Map<string, Entry>();
  /** Unknown hashes → epoch ms after which they are looked up again. */
  private readonly unknown = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<ApiKey | undefined>>();
  /** SHA-256 digest of a well-formed key → its lookup hash (HMAC): see the file's comment. */
  private readonly lookupHashes = new Map<string, string>();
  /** Bumped by every change; a load only fills the cache if no change happened meanwhile. */
  private generation = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxUnknownEntries: number;
  private readonly now: () => number;
  private stopWatching: (() => Promise<void>) | undefined;
  readonly stats = { hits: 0, loads: 0, changes: 0, resets: 0, throttled: 0 };

  constructor(
    private readonly store: Store,
    private readonly hasher: KeyHasher,
    options: ApiKeyVerifierOptions = {},
  ) {
    this.ttlMs = Math.min(options.ttlMs ?? 5000, 5000);
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxUnknownEntries = options.maxUnknownEntries ?? 20_000;
    this.now = options.now ?? Date.now;
  }

  /** Subscribes to the store's change feed. Call once before serving. */
  async start(): Promise<void> {
    this.stopWatching = await this.store.watchKeyChanges({
      onChange: (change) => {
        this.generation += 1;
        this.stats.changes += 1;
        this.cache.delete(change.hash);
        this.unknown.delete(change.hash);
        this.inflight.delete(change.hash);
      },
      onReset: () => {
        this.generation += 1;
        this.stats.resets += 1;
        this.cache.clear();
        this.unknown.clear();
        this.inflight.clear();
      },
    });
  }

  async close(): Promise<void> {
    await this.stopWatching?.();
    this.stopWatching = undefined;
    this.cache.clear();
    this.unknown.clear();
    this.lookupHashes.clear();
  }

  /** Entries held: existing keys, unknown hashes and remembered lookup hashes (for tests and metrics). */
  get cacheSizes(): { known: number; unknown: number; lookupHashes: number } {
    return { known: this.cache.size, unknown: this.unknown.size, lookupHashes: this.lookupHashes.size };
  }

  /**
   * The verdict for a raw key string from a header or query parameter. With `budget`, a key
   * that is neither cached nor being loaded is looked up only while the budget allows.
   */
  async verify(raw: string | undefined, budget?: LookupBudget): Promise<Verdict> {
    if (raw === undefined || raw === '') return { ok: false, reason: 'missing' };
    const digest = digestOf('sha256', raw, 'base64');
    let hash = this.lookupHashes.get(digest);
    if (hash === undefined) {
      if (!parseKey(raw, 'api').ok) return { ok: false, reason: 'malformed' };
      hash = this.hasher.hash(raw);
      const max = this.maxEntries + this.maxUnknownEntries;
      if (this.lookupHashes.size >= max) dropOldestTenth(this.lookupHashes, max);
      this.lookupHashes.set(digest, hash);
    }
    const now = this.now();
    const cached = this.cache.get(hash);
    if (cached !== undefined && cached.staleAt > now) {
      this.stats.hits += 1;
      return judge(cached.key, now);
    }
    const unknownUntil = this.unknown.get(hash);
    if (unknownUntil !== undefined && unknownUntil > now) {
      this.stats.hits += 1;
      return { ok: false, reason: 'unknown' };
    }
    if (budget !== undefined && !this.inflight.has(hash)) {
      const wait = budget.check();
      if (wait > 0) {
        this.stats.throttled += 1;
        return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
      }
    }
    const key = await this.load(hash);
    if (key === undefined) budget?.spend();
    return judge(key, this.now());
  }

  private load(hash: string): Promise<ApiKey | undefined> {
    const running = this.inflight.get(hash);
    if (running !== undefined) return running;
    const generation = this.generation;
    this.stats.loads += 1;
    const loading = this.store.findApiKeyByHash(hash).then(
      (key) => {
        if (this.inflight.get(hash) === loading) this.inflight.delete(hash);
        if (this.generation === generation) this.remember(hash, key);
        return key;
      },
      (error: unknown) => {
        if (this.inflight.get(hash) === loading) this.inflight.delete(hash);
        throw error;
      },
    );
    this.inflight.set(hash, loading);
    return loading;
  }

  private remember(hash: string, key: ApiKey | undefined): void {
    const staleAt = this.now() + this.ttlMs;
    if (key === undefined) {
      this.cache.delete(hash);
      if (this.unknown.size >= this.maxUnknownEntries) dropOldestTenth(this.unknown, this.maxUnknownEntries);
      this.unknown.delete(hash);
      this.unknown.set(hash, staleAt);
      return;
    }
    this.unknown.delete(hash);
    if (this.cache.size >= this.maxEntries) dropOldestTenth(this.cache, this.maxEntries);
    this.cache.delete(hash);
    this.cache.set(hash, { key, staleAt });
  }
}

/** Map iteration is insertion order: drops the oldest tenth of `max`. */
function dropOldestTenth(map: Map<string, unknown>, max: number): void {
  let drop = Math.ceil(max / 10);
  for (const oldest of map.keys()) {
    map.delete(oldest);
    if (--drop === 0) break;
  }
}

function judge(key: ApiKey | undefined, now: number): Verdict {
  if (key === undefined) return { ok: false, reason: 'unknown' };
  if (key.status !== 'active') return { ok: false, reason: 'revoked' };
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return { ok: false, reason: 'expired' };
  return { ok: true, key };
}
