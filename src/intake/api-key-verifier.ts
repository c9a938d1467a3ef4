/**
 * Verifies intake API keys from memory (PRODUCT.md §6: every node verifies keys from memory).
 *
 *  - A malformed key (parseKey: length, hex, checksum) is refused before any lookup.
 *  - Lookups are cached by the key's hash, "unknown" included, so a flood of bad keys costs
 *    one database read per distinct key per TTL; concurrent requests for one hash share one
 *    in-flight load.
 *  - Every entry lives at most `ttlMs` (≤ 5 s): a lost notification cannot keep a revoked key
 *    alive longer than that.
 *  - Revocations arrive through `store.watchKeyChanges`: in-process before the revoke call
 *    returns (so the very next request is refused), from other nodes via LISTEN/NOTIFY.
 *    `onReset()` (the feed was interrupted) drops the whole cache.
 *  - Expiry (`expiresAt`, set by a roll) is checked at request time against the clock, so
 *    an expiring key stops at its instant, cached or not.
 *
 * A change that arrives while a load for the same hash is in flight invalidates that load
 * (a generation counter), so a read that began before a revoke committed can never put the
 * old "active" row back into the cache.
 */
import { parseKey } from '../keys/key-format.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { ApiKey, Store } from '../store/store.js';

export type Verdict =
  | { ok: true; key: ApiKey }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' };

interface Entry {
  key: ApiKey | undefined;
  /** Epoch ms after which the entry is reloaded. */
  staleAt: number;
}

export interface ApiKeyVerifierOptions {
  /** Bounded lifetime of a cache entry; at most 5000 ms (default 5000). */
  ttlMs?: number;
  /** Most entries kept; the oldest are dropped beyond it (default 100,000). */
  maxEntries?: number;
  now?: () => number;
}

export class ApiKeyVerifier {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<ApiKey | undefined>>();
  /** Bumped by every change; a load only fills the cache if no change happened meanwhile. */
  private generation = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private stopWatching: (() => Promise<void>) | undefined;
  readonly stats = { hits: 0, loads: 0, changes: 0, resets: 0 };

  constructor(
    private readonly store: Store,
    private readonly hasher: KeyHasher,
    options: ApiKeyVerifierOptions = {},
  ) {
    this.ttlMs = Math.min(options.ttlMs ?? 5000, 5000);
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Subscribes to the store's change feed. Call once before serving. */
  async start(): Promise<void> {
    this.stopWatching = await this.store.watchKeyChanges({
      onChange: (change) => {
        this.generation += 1;
        this.stats.changes += 1;
        this.cache.delete(change.hash);
        this.inflight.delete(change.hash);
      },
      onReset: () => {
        this.generation += 1;
        this.stats.resets += 1;
        this.cache.clear();
        this.inflight.clear();
      },
    });
  }

  async close(): Promise<void> {
    await this.stopWatching?.();
    this.stopWatching = undefined;
    this.cache.clear();
  }

  /** The verdict for a raw key string from a header or query parameter. */
  async verify(raw: string | undefined): Promise<Verdict> {
    if (raw === undefined || raw === '') return { ok: false, reason: 'missing' };
    if (!parseKey(raw, 'api').ok) return { ok: false, reason: 'malformed' };
    const hash = this.hasher.hash(raw);
    const now = this.now();
    const cached = this.cache.get(hash);
    let key: ApiKey | undefined;
    if (cached !== undefined && cached.staleAt > now) {
      this.stats.hits += 1;
      key = cached.key;
    } else {
      key = await this.load(hash);
    }
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
    if (this.cache.size >= this.maxEntries) {
      // Map iteration is insertion order: drop the oldest tenth.
      let drop = Math.ceil(this.maxEntries / 10);
      for (const oldest of this.cache.keys()) {
        this.cache.delete(oldest);
        if (--drop === 0) break;
      }
    }
    this.cache.delete(hash);
    this.cache.set(hash, { key, staleAt: this.now() + this.ttlMs });
  }
}

function judge(key: ApiKey | undefined, now: number): Verdict {
  if (key === undefined) return { ok: false, reason: 'unknown' };
  if (key.status !== 'active') return { ok: false, reason: 'revoked' };
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return { ok: false, reason: 'expired' };
  return { ok: true, key };
}
