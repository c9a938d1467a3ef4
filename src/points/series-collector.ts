/**
 * Collects the points of the chunks a query read (point-chunk.ts) into one packed series per
 * (host, tags) — `PointSeries`, the form `querySeries` answers in — keeping the last written
 * value per timestamp, as `queryPoints` always has.
 *
 * Why not `decodeChunk` and a map of points: a 1-day query over 1,000 hosts at 60 s reads
 * 86,400 chunks of 17 series each. Decoding made an array per point and the de-duplication a
 * string key and an object per point; the header JSON was parsed once per chunk although the
 * same fleet writes the same header again and again (the same hosts report in the same second
 * of each minute). Here a header is parsed once per distinct text and resolved once to its
 * series; a point is two float reads and three array writes; a series that arrives in
 * timestamp order (the usual case: chunks are read in write order) is never sorted.
 */
import { chunkHeaderText, parseChunkHeader } from './point-chunk.js';
import { seriesKey, type PointKind, type PointSeries } from './point-store.js';

/** One series being collected; arrays grow by doubling. */
interface Collecting {
  host: string;
  tags: readonly string[];
  n: number;
  ts: Float64Array;
  values: Float64Array;
  kindIds: Uint32Array;
  firstWritten: Float64Array;
  /** Strictly increasing timestamps so far: no sort and no de-duplication needed. */
  ordered: boolean;
}

/** A chunk header's entry resolved to where its points go. */
interface Resolved {
  into: Collecting;
  kindId: number;
  count: number;
}

const INITIAL = 64;

export class SeriesCollector {
  private readonly series = new Map<string, Collecting>();
  private readonly headers = new Map<string, Resolved[]>();
  private readonly kinds: PointKind[] = [];
  private readonly kindIndex = new Map<string, number>();
  /** Points visited so far: each point's place in write order. */
  private written = 0;

  /** Points outside [from, to] (epoch seconds, inclusive) are skipped. */
  constructor(
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** Adds one chunk; chunks must be added in write order (increasing id), so a later write wins. */
  add(blob: Uint8Array): void {
    const { text, valuesAt } = chunkHeaderText(blob);
    let resolved = this.headers.get(text);
    if (resolved === undefined) {
      resolved = parseChunkHeader(text, blob.byteLength).map(([host, tags, type, interval, count]) => ({
        into: this.collecting(host, tags),
        kindId: this.kindId(type, interval),
        count,
      }));
      this.headers.set(text, resolved);
    }
    let total = 0;
    for (const entry of resolved) total += entry.count;
    if (valuesAt + total * 16 !== blob.byteLength)
      throw new Error(`a point chunk of ${blob.byteLength} bytes is corrupt: the point count does not match its length`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    let offset = valuesAt;
    for (const { into, kindId, count } of resolved) {
      for (let i = 0; i < count; i++, offset += 16) {
        const written = this.written++;
        const ts = view.getFloat64(offset, true);
        if (ts < this.from || ts > this.to) continue;
        push(into, ts, view.getFloat64(offset + 8, true), kindId, written);
      }
    }
  }

  /** Every series with a point in range, each ordered by timestamp with one point per timestamp. */
  result(): PointSeries[] {
    const out: PointSeries[] = [];
    for (const s of this.series.values()) {
      if (s.n === 0) continue;
      if (!s.ordered) normalise(s);
      out.push({
        host: s.host,
        tags: s.tags,
        ts: s.ts.subarray(0, s.n),
        values: s.values.subarray(0, s.n),
        kindIds: s.kindIds.subarray(0, s.n),
        kinds: this.kinds,
        firstWritten: s.firstWritten.subarray(0, s.n),
      });
    }
    return out;
  }

  private collecting(host: string, tags: readonly string[]): Collecting {
    const key = seriesKey(host, tags);
    let found = this.series.get(key);
    if (found === undefined) {
      found = {
        host,
        tags,
        n: 0,
        ts: new Float64Array(INITIAL),
        values: new Float64Array(INITIAL),
        kindIds: new Uint32Array(INITIAL),
        firstWritten: new Float64Array(INITIAL),
        ordered: true,
      };
      this.series.set(key, found);
    }
    return found;
  }

  private kindId(type: PointKind['type'], interval: number | null): number {
    const key = `${type}\u0000${interval}`;
    let id = this.kindIndex.get(key);
    if (id === undefined) {
      id = this.kinds.length;
      this.kinds.push({ type, interval });
      this.kindIndex.set(key, id);
    }
    return id;
  }
}

function push(s: Collecting, ts: number, value: number, kindId: number, written: number): void {
  if (s.n === s.ts.length) {
    const grow = <T extends Float64Array | Uint32Array>(from: T, make: (n: number) => T): T => {
      const to = make(from.length * 2);
      to.set(from);
      return to;
    };
    s.ts = grow(s.ts, (n) => new Float64Array(n));
    s.values = grow(s.values, (n) => new Float64Array(n));
    s.kindIds = grow(s.kindIds, (n) => new Uint32Array(n));
    s.firstWritten = grow(s.firstWritten, (n) => new Float64Array(n));
  }
  if (s.n > 0 && ts <= s.ts[s.n - 1]!) s.ordered = false;
  s.ts[s.n] = ts;
  s.values[s.n] = value;
  s.kindIds[s.n] = kindId;
  s.firstWritten[s.n] = written;
  s.n++;
}

/**
 * Sorts a series by timestamp and keeps one point per timestamp: the value and kind last
 * written, the time it was first written (the stable sort keeps write order among equals).
 */
function normalise(s: Collecting): void {
  const order = Array.from({ length: s.n }, (_, i) => i).sort((a, b) => s.ts[a]! - s.ts[b]!);
  const ts = new Float64Array(s.n);
  const values = new Float64Array(s.n);
  const kindIds = new Uint32Array(s.n);
  const firstWritten = new Float64Array(s.n);
  let n = 0;
  for (const i of order) {
    if (n > 0 && ts[n - 1] === s.ts[i]) {
      values[n - 1] = s.values[i]!;
      kindIds[n - 1] = s.kindIds[i]!;
      continue;
    }
    ts[n] = s.ts[i]!;
    values[n] = s.values[i]!;
    kindIds[n] = s.kindIds[i]!;
    firstWritten[n] = s.firstWritten[i]!;
    n++;
  }
  Object.assign(s, { ts, values, kindIds, firstWritten, n, ordered: true });
}
