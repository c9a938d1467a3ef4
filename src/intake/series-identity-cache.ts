/**
 * The checked identity of protobuf series — metric, host and canonical tags — remembered by
 * the exact bytes that carry it (metric-payload-proto.ts `scanSeries`), so a series seen
 * before costs one map lookup instead of decoding its strings, finding its host, checking
 * and sorting its tags (proto-series.ts).
 *
 * Why: an agent sends the same series every flush (issue 18: 100 series × 1 point per
 * payload). Decoding each series' identity anew was the largest part of the protobuf intake's
 * per-series cost — string decoding, the tags check and sort, and the garbage of it.
 *
 * Exact, not hashed: the key is the bytes themselves, one char per byte, and the map compares
 * keys whole, so two different identities can never share an entry. Bounded by an estimate of
 * the heap each entry holds: its key, the strings read from it (no more text than the key) and
 * ENTRY_OVERHEAD_BYTES for the Map entry, the identity object and the tags array. When the
 * current generation's estimate reaches `maxBytes`, it becomes the previous one and the one
 * before is dropped (an entry found in the previous generation moves to the current one), so at
 * most 2 × `maxBytes` are held. Keys longer than `maxKeyChars` are not kept.
 *
 * Why an estimate per entry and not the key text alone: a hostile try (2026-12-01) sent 1.5
 * million distinct short-named series; with only key characters counted (2 × 4 M) the cache held
 * 1.25 M entries, ~175 bytes of heap each (+219 MB), and a real server's RSS peaked at 1.25 GB
 * against 0.69 GB for the same series as JSON.
 */
/** Heap per entry beyond its text: Map slot, identity object, tags array (measured ~175 B in all with ~7-char keys). */
const ENTRY_OVERHEAD_BYTES = 176;

export interface SeriesIdentity {
  metric: string;
  host: string;
  /** Sorted, de-duplicated; shared by every series with this identity, never changed. */
  tags: readonly string[];
}

export class SeriesIdentityCache {
  private current = new Map<string, SeriesIdentity>();
  private previous = new Map<string, SeriesIdentity>();
  private bytes = 0;

  /** `maxBytes` per generation (default 32 MiB: ~78,000 identities of 120-byte keys). */
  constructor(
    private readonly maxBytes = 32 * 1024 * 1024,
    private readonly maxKeyChars = 4096,
  ) {}

  get(key: string): SeriesIdentity | undefined {
    const found = this.current.get(key);
    if (found !== undefined) return found;
    const old = this.previous.get(key);
    if (old !== undefined) this.keep(key, old);
    return old;
  }

  set(key: string, identity: SeriesIdentity): void {
    if (key.length > this.maxKeyChars) return;
    this.keep(key, identity);
  }

  /** Entries held in both generations (for tests). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private keep(key: string, identity: SeriesIdentity): void {
    // The key's text, the strings decoded from it (at most as much again), the entry itself.
    const cost = 2 * key.length + ENTRY_OVERHEAD_BYTES;
    if (this.bytes + cost > this.maxBytes) {
      this.previous = this.current;
      this.current = new Map();
      this.bytes = 0;
    }
    this.current.set(key, identity);
    this.bytes += cost;
  }
}
