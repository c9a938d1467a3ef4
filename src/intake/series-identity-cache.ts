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
 * keys whole, so two different identities can never share an entry. Bounded: keys are counted
 * in chars; when the current generation holds `maxChars`, it becomes the previous one and the
 * one before is dropped (an entry found in the previous generation moves to the current one).
 * So at most 2 × `maxChars` chars of keys are held, and the values — strings read from those
 * keys' bytes — hold no more text than their keys. Keys longer than `maxKeyChars` are not kept.
 */
export interface SeriesIdentity {
  metric: string;
  host: string;
  /** Sorted, de-duplicated; shared by every series with this identity, never changed. */
  tags: readonly string[];
}

export class SeriesIdentityCache {
  private current = new Map<string, SeriesIdentity>();
  private previous = new Map<string, SeriesIdentity>();
  private chars = 0;

  constructor(
    private readonly maxChars = 4_000_000,
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
    if (this.chars + key.length > this.maxChars) {
      this.previous = this.current;
      this.current = new Map();
      this.chars = 0;
    }
    this.current.set(key, identity);
    this.chars += key.length;
  }
}
