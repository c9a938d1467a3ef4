/**
 * A chunk: the points of one metric from one write batch — every host and tag set of it —
 * packed into one database row, the way time-series databases store data (Prometheus and
 * Gorilla chunks) instead of one row per point.
 *
 * Why: the intake's cost was dominated by one database row per point (index entries, a
 * parameter set, a row to parse): about 5 µs a point on SQLite, against 0.4 µs to receive and
 * parse it. An agent sends many metrics with one point each, and many agents send the same
 * metrics, so the unit that groups well is the metric: a batch of a fleet's payloads becomes
 * one row per metric name. De-duplication moves from a primary key to reading (see
 * kysely-point-store.ts): the newest chunk's value wins per (host, tags, ts).
 *
 * Format (version 1), all little-endian:
 *   u32  H, the byte length of the header
 *   H    UTF-8 JSON header: [[host, tags[], type, interval|null, pointCount], …], one per series
 *   pad  zero bytes up to a multiple of 8
 *   f64  [ts, value] pairs, series after series in header order, each series' points in the
 *        order written (migration 003 wrote them sorted)
 * A series may appear more than once in a chunk, and a ts more than once in a series: when
 * read, the later entry wins, as a later chunk does. So a write never sorts or merges points.
 * Float64 holds every epoch second exactly and every finite value as sent.
 */
import type { StoredPoint } from './point-store.js';

type MetricKind = StoredPoint['type'];

/** [timestamp seconds, value] */
export type ChunkPoint = readonly [number, number];

export interface ChunkSeries {
  host: string;
  /** Sorted, de-duplicated. */
  tags: readonly string[];
  type: MetricKind;
  interval: number | null;
  /** In the order written; a later point for the same ts wins. */
  points: ReadonlyArray<ChunkPoint>;
}

/** One series in a chunk's header. */
export type ChunkHeaderEntry = [host: string, tags: readonly string[], type: MetricKind, interval: number | null, count: number];

/** Sorts by timestamp and keeps the last value given for each timestamp (last write wins). */
export function normalisePoints(points: ReadonlyArray<ChunkPoint>): ReadonlyArray<ChunkPoint> {
  // The usual case — one payload's points, already in order — is returned as it is: no copy,
  // no map, no sort (this runs for every series the intake stores).
  let ordered = true;
  for (let i = 1; i < points.length && ordered; i++) ordered = points[i - 1]![0] < points[i]![0];
  if (ordered) return points;
  const byTs = new Map<number, number>();
  for (const [ts, value] of points) byTs.set(ts, value);
  return [...byTs].sort((a, b) => a[0] - b[0]);
}

export function encodeChunk(series: readonly ChunkSeries[]): Buffer {
  let count = 0;
  for (const s of series) count += s.points.length;
  return encodeChunkWith(
    series.map((s): ChunkHeaderEntry => [s.host, s.tags, s.type, s.interval, s.points.length]),
    count,
    (values) => {
      let i = 0;
      for (const s of series) {
        for (const [ts, value] of s.points) {
          values[i++] = ts;
          values[i++] = value;
        }
      }
    },
  );
}

/**
 * Encodes a chunk from its header entries and `count` points, which `fill` writes into
 * `values` (ts, value, ts, value, …, series after series in header order): the one place
 * that knows the byte layout, for callers that copy points from packed arrays
 * (chunk-builder.ts) as well as from pairs.
 */
export function encodeChunkWith(entries: readonly ChunkHeaderEntry[], count: number, fill: (values: Float64Array) => void): Buffer {
  const header = Buffer.from(JSON.stringify(entries), 'utf8');
  const valuesAt = Math.ceil((4 + header.length) / 8) * 8;
  const out = new ArrayBuffer(valuesAt + count * 16);
  new DataView(out).setUint32(0, header.length, true);
  new Uint8Array(out, 4, header.length).set(header);
  // A Float64Array writes in the platform's byte order: little-endian on every platform Node
  // supports, and the check at the end of this file refuses to run anywhere else.
  fill(new Float64Array(out, valuesAt, count * 2));
  return Buffer.from(out);
}

/**
 * A chunk's header as text and where its points start, without parsing it: a query keys its
 * parsed headers by this text (series-collector.ts), because a fleet writes the same header
 * over and over.
 */
export function chunkHeaderText(blob: Uint8Array): { text: string; valuesAt: number } {
  if (blob.byteLength < 4) throw corrupt(blob, 'no header');
  const headerLength = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0, true);
  if (4 + headerLength > blob.byteLength) throw corrupt(blob, 'the header is longer than the chunk');
  const text = Buffer.from(blob.buffer, blob.byteOffset + 4, headerLength).toString('utf8');
  return { text, valuesAt: Math.ceil((4 + headerLength) / 8) * 8 };
}

/** The entries of a header's text (`chunkHeaderText`); `byteLength` only names the chunk in the error. */
export function parseChunkHeader(text: string, byteLength: number): ChunkHeaderEntry[] {
  try {
    return JSON.parse(text) as ChunkHeaderEntry[];
  } catch {
    throw corrupt({ byteLength }, 'the header is not JSON');
  }
}

function corrupt(blob: { byteLength: number }, why: string): Error {
  return new Error(`a point chunk of ${blob.byteLength} bytes is corrupt: ${why}`);
}

export function decodeChunk(blob: Uint8Array): ChunkSeries[] {
  const { text, valuesAt } = chunkHeaderText(blob);
  const entries = parseChunkHeader(text, blob.byteLength);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let offset = valuesAt;
  const total = entries.reduce((n, e) => n + e[4], 0);
  if (offset + total * 16 !== blob.byteLength) throw corrupt(blob, 'the point count does not match its length');
  return entries.map(([host, tags, type, interval, count]) => {
    const points: Array<[number, number]> = new Array(count);
    for (let i = 0; i < count; i++, offset += 16) points[i] = [view.getFloat64(offset, true), view.getFloat64(offset + 8, true)];
    return { host, tags, type, interval, points };
  });
}

if (new Uint8Array(new Float64Array([1]).buffer)[7] !== 0x3f) {
  throw new Error('rekey stores points little-endian and this platform is big-endian; it is not supported');
}
