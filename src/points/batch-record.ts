/**
 * One write batch as bytes: the form in which the intake journal (point-journal.ts) holds a
 * batch from its acknowledgement until it is saved into the database, and replays it after a
 * crash. Kept encoded in memory too: a second's worth of batches then lives in a few
 * off-heap buffers instead of millions of small objects the garbage collector would copy.
 *
 * Format (version 1), all little-endian:
 *   u32  H, the byte length of the header
 *   u32  N, the number of points
 *   H    UTF-8 JSON header {"o": [orgId, …], "s": [[org, metric, host, tags[], type,
 *        interval|null, count], …], "h"?: HostSighting[], "c"?: CheckRunRecord[]}, where `org`
 *        indexes "o" (a batch is usually one organisation: its id is not repeated per series)
 *   pad  zero bytes up to a multiple of 8
 *   f64  N [ts, value] pairs, series after series in header order
 */
import { pointCount, type CheckRunRecord, type HostSighting, type PointBatch, type StoredSeries } from './point-store.js';

export type SeriesEntry = [org: number, metric: string, host: string, tags: readonly string[], type: StoredSeries['type'], interval: number | null, count: number];
interface Header {
  o: string[];
  s: SeriesEntry[];
  h?: readonly HostSighting[];
  c?: readonly CheckRunRecord[];
}

const FIXED = 8;

export function encodeBatchRecord(batch: PointBatch): Uint8Array {
  let count = 0;
  const entries: SeriesEntry[] = new Array(batch.series.length);
  const orgs: string[] = [];
  let lastOrg: string | undefined;
  let org = -1;
  for (let i = 0; i < batch.series.length; i++) {
    const s = batch.series[i]!;
    if (s.orgId !== lastOrg) {
      lastOrg = s.orgId;
      org = orgs.indexOf(s.orgId);
      if (org < 0) org = orgs.push(s.orgId) - 1;
    }
    const n = pointCount(s.points);
    entries[i] = [org, s.metric, s.host, s.tags, s.type, s.interval, n];
    count += n;
  }
  const header = Buffer.from(
    JSON.stringify({ o: orgs, s: entries, ...(batch.hosts.length > 0 ? { h: batch.hosts } : {}), ...(batch.checkRuns.length > 0 ? { c: batch.checkRuns } : {}) } satisfies Header),
    'utf8',
  );
  const valuesAt = Math.ceil((FIXED + header.length) / 8) * 8;
  const out = new ArrayBuffer(valuesAt + count * 16);
  const view = new DataView(out);
  view.setUint32(0, header.length, true);
  view.setUint32(4, count, true);
  new Uint8Array(out, FIXED, header.length).set(header);
  // Float64Array writes little-endian on every platform Node supports (point-chunk.ts refuses the others).
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
  /** The organisations that `entries` index. */
  orgs: readonly string[];
  /** [org, metric, host, tags, type, interval, count] per series, in order. */
  entries: readonly SeriesEntry[];
  /** The points, series after series in entry order: ts, value, ts, value, … */
  values: Float64Array;
  hosts: readonly HostSighting[];
  checkRuns: readonly CheckRunRecord[];
}

/** Reads a record without making an object per series (chunk-builder.ts copies from `values`). */
export function readBatchRecord(record: Uint8Array): BatchRecordContents {
  const corrupt = (why: string) => new Error(`a journal record of ${record.byteLength} bytes is corrupt: ${why}`);
  if (record.byteLength < FIXED) throw corrupt('no header');
  // A Float64Array view needs an 8-byte-aligned start; records read from a file may not have one.
  const bytes = record.byteOffset % 8 === 0 ? record : new Uint8Array(record);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  const count = view.getUint32(4, true);
  const valuesAt = Math.ceil((FIXED + headerLength) / 8) * 8;
  if (valuesAt + count * 16 !== bytes.byteLength) throw corrupt('its lengths do not add up');
  let header: Header;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + FIXED, headerLength).toString('utf8')) as Header;
  } catch {
    throw corrupt('the header is not JSON');
  }
  let total = 0;
  for (const entry of header.s) total += entry[6];
  if (total !== count) throw corrupt('the series do not account for its points');
  return { orgs: header.o, entries: header.s, values: new Float64Array(bytes.buffer, bytes.byteOffset + valuesAt, count * 2), hosts: header.h ?? [], checkRuns: header.c ?? [] };
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
