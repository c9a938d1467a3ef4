/**
 * One write batch as bytes: the form in which the intake journal (point-journal.ts) holds a
 * batch from its acknowledgement until it is saved into the database, and replays it after a
 * crash. Kept encoded in memory too: a second's worth of batches then lives in a few
 * off-heap buffers instead of millions of small objects the garbage collector would copy.
 *
 * Format, all little-endian:
 *   u32  H, the byte length of the JSON part
 *   u32  N, the number of points
 *   u32  S, the number of series
 *   u32  T, the number of tags over all series
 *   H    UTF-8 JSON {"t": [string, …], "h"?: HostSighting[], "c"?: CheckRunRecord[]}: "t" holds
 *        each distinct org id, metric, host and tag once
 *   pad  zero bytes up to a multiple of 8
 *   f64  S × [org, metric, host, tag count, type (0 gauge, 1 count, 2 rate), interval (NaN:
 *        none), point count], the strings as indexes into "t"
 *   f64  T tag indexes into "t", series after series
 *   f64  N [ts, value] pairs, series after series
 * Why a string table and numbers, not a JSON list of series: a batch repeats the same few
 * metric names, hosts and tags in every series, and this encoding runs for every batch before
 * its 202; it costs a third of stringifying the series (and the record is smaller to write).
 */
import { pointCount, type CheckRunRecord, type HostSighting, type PointBatch, type StoredSeries } from './point-store.js';

export type SeriesEntry = [
  org: number,
  metric: string,
  host: string,
  tags: readonly string[],
  type: StoredSeries['type'],
  interval: number | null,
  count: number,
];
interface Header {
  t: string[];
  h?: readonly HostSighting[];
  c?: readonly CheckRunRecord[];
}

const FIXED = 16;
const ENTRY = 7;
const TYPES: ReadonlyArray<StoredSeries['type']> = ['gauge', 'count', 'rate'];

export function encodeBatchRecord(batch: PointBatch): Uint8Array {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const intern = (text: string): number => {
    let at = index.get(text);
    if (at === undefined) index.set(text, (at = strings.push(text) - 1));
    return at;
  };
  let count = 0;
  let tagCount = 0;
  for (const s of batch.series) {
    count += pointCount(s.points);
    tagCount += s.tags.length;
  }
  const series = batch.series.length;
  // Interning first: the JSON part's length fixes where the numbers start.
  const numbers = new Float64Array(series * ENTRY + tagCount);
  let n = 0;
  let t = series * ENTRY;
  for (const s of batch.series) {
    numbers[n++] = intern(s.orgId);
    numbers[n++] = intern(s.metric);
    numbers[n++] = intern(s.host);
    numbers[n++] = s.tags.length;
    numbers[n++] = TYPES.indexOf(s.type);
    numbers[n++] = s.interval ?? NaN;
    numbers[n++] = pointCount(s.points);
    for (const tag of s.tags) numbers[t++] = intern(tag);
  }
  const header = Buffer.from(
    JSON.stringify({
      t: strings,
      ...(batch.hosts.length > 0 ? { h: batch.hosts } : {}),
      ...(batch.checkRuns.length > 0 ? { c: batch.checkRuns } : {}),
    } satisfies Header),
    'utf8',
  );
  const numbersAt = Math.ceil((FIXED + header.length) / 8) * 8;
  const valuesAt = numbersAt + numbers.byteLength;
  const out = new ArrayBuffer(valuesAt + count * 16);
  const view = new DataView(out);
  view.setUint32(0, header.length, true);
  view.setUint32(4, count, true);
  view.setUint32(8, series, true);
  view.setUint32(12, tagCount, true);
  new Uint8Array(out, FIXED, header.length).set(header);
  // Float64Array writes little-endian on every platform Node supports (point-chunk.ts refuses the others).
  new Float64Array(out, numbersAt, numbers.length).set(numbers);
  const values = new Float64Array(out, valuesAt, count * 2);
  let v = 0;
  for (const s of batch.series) {
    if (s.points instanceof Float64Array) {
      values.set(s.points, v);
      v += s.points.length;
      continue;
    }
    for (const [ts, value] of s.points) {
      values[v++] = ts;
      values[v++] = value;
    }
  }
  return new Uint8Array(out);
}

/** How many points a record holds (its header's second word), without reading the rest. */
export function pointsIn(record: Uint8Array): number {
  return new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(4, true);
}

/** A record's parts as stored: the header's series entries and one view of all its points. */
export interface BatchRecordContents {
  /** The strings whose indexes `entries` hold as their org. */
  orgs: readonly string[];
  /** [org, metric, host, tags, type, interval, count] per series, in order. */
  entries: readonly SeriesEntry[];
  /** The points, series after series in entry order: ts, value, ts, value, … */
  values: Float64Array;
  hosts: readonly HostSighting[];
  checkRuns: readonly CheckRunRecord[];
}

/** Reads a record without making an object per point (chunk-builder.ts copies from `values`). */
export function readBatchRecord(record: Uint8Array): BatchRecordContents {
  const corrupt = (why: string) => new Error(`a journal record of ${record.byteLength} bytes is corrupt: ${why}`);
  if (record.byteLength < FIXED) throw corrupt('no header');
  // A Float64Array view needs an 8-byte-aligned start; records read from a file may not have one.
  const bytes = record.byteOffset % 8 === 0 ? record : new Uint8Array(record);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  const count = view.getUint32(4, true);
  const series = view.getUint32(8, true);
  const tagCount = view.getUint32(12, true);
  const numbersAt = Math.ceil((FIXED + headerLength) / 8) * 8;
  const valuesAt = numbersAt + (series * ENTRY + tagCount) * 8;
  if (valuesAt + count * 16 !== bytes.byteLength) throw corrupt('its lengths do not add up');
  let header: Header;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + FIXED, headerLength).toString('utf8')) as Header;
  } catch {
    throw corrupt('the header is not JSON');
  }
  const strings = header.t;
  const numbers = new Float64Array(bytes.buffer, bytes.byteOffset + numbersAt, series * ENTRY + tagCount);
  const text = (at: number): string => {
    const found = strings[at];
    if (found === undefined) throw corrupt('a string index is out of range');
    return found;
  };
  const entries: SeriesEntry[] = new Array(series);
  let total = 0;
  let t = series * ENTRY;
  for (let i = 0, n = 0; i < series; i++) {
    const org = numbers[n++]!;
    text(org); // in range
    const metric = text(numbers[n++]!);
    const host = text(numbers[n++]!);
    const tags: string[] = new Array(numbers[n++]!);
    for (let k = 0; k < tags.length; k++) tags[k] = text(numbers[t++]!);
    const type = TYPES[numbers[n++]!];
    if (type === undefined) throw corrupt('a series type is unknown');
    const interval = numbers[n++]!;
    const points = numbers[n++]!;
    total += points;
    entries[i] = [org, metric, host, tags, type, Number.isNaN(interval) ? null : interval, points];
  }
  if (total !== count || t !== numbers.length) throw corrupt('the series do not account for its points');
  return {
    orgs: strings,
    entries,
    values: new Float64Array(bytes.buffer, bytes.byteOffset + valuesAt, count * 2),
    hosts: header.h ?? [],
    checkRuns: header.c ?? [],
  };
}

/** Decodes a record; each series' points are a packed Float64Array view (copied once if misaligned). */
export function decodeBatchRecord(record: Uint8Array): PointBatch {
  const { orgs, entries, values, hosts, checkRuns } = readBatchRecord(record);
  let offset = 0;
  const series: StoredSeries[] = entries.map(([org, metric, host, tags, type, interval, n]) => {
    const points = values.subarray(offset, offset + n * 2);
    offset += n * 2;
    return { orgId: orgs[org]!, metric, host, tags, type, interval, points };
  });
  return { series, hosts, checkRuns };
}
