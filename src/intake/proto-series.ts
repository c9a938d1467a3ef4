/**
 * The Agent 7 protobuf MetricPayload (`POST /api/v2/series`, Content-Type:
 * application/x-protobuf) straight into IntakeSeries, with the rules of the v2 JSON series
 * (series-payload.ts `v2Series`): the same checks in the same order, the same errors.
 *
 * Why not decode the payload into objects and hand it to the v2 JSON path: an agent sends the
 * same series every flush, and decoding every series' metric, tags and resources anew, then
 * checking and sorting its tags, was most of the protobuf intake's per-series cost (issue 18).
 * Here each series is read in one pass that keeps its identity fields as raw bytes
 * (metric-payload-proto.ts `scanSeries`); a series whose identity bytes were seen before takes
 * its checked metric, host and tags from a cache keyed by those exact bytes
 * (series-identity-cache.ts), and only its type, unit, interval and points are read and
 * checked. A series not seen before goes through `decodeSeries` and `v2Series` themselves, and
 * its identity is remembered once it passed. test/intake/proto-series.test.ts checks that both
 * ways answer exactly as the v2 path does, for random payloads.
 */
import protobuf from 'protobufjs';
import { RekeyError } from '../errors.js';
import { countMetricPayload, decodeSeries, endOf, scanSeries, type ProtoMetricSeries, type SeriesScan } from './metric-payload-proto.js';
import { DEFAULT_PAYLOAD_CAPS, type PayloadCaps } from './payload-caps.js';
import {
  eachSeries,
  invalid,
  PointArena,
  SeriesChecker,
  V2_TYPES,
  v2Points,
  v2Series,
  type DecodeOptions,
  type IntakeSeries,
  type TimestampWindow,
} from './series-payload.js';
import { SeriesIdentityCache, type SeriesIdentity } from './series-identity-cache.js';

/** The identities every request of this process shares: keyed by bytes, they hold for any caller. */
const SHARED_IDENTITIES = new SeriesIdentityCache();

export interface ProtoDecodeOptions extends DecodeOptions {
  /** Where identities seen before are remembered (default: one per process). */
  identities?: SeriesIdentityCache;
}

/** Decodes and checks a MetricPayload; malformed bytes are INVALID_PAYLOAD, a cap passed PAYLOAD_TOO_COMPLEX. */
export function decodeProtoSeries(body: Buffer, nowSeconds: number, window: TimestampWindow, options: ProtoDecodeOptions = {}): IntakeSeries[] {
  const caps = options.caps ?? DEFAULT_PAYLOAD_CAPS;
  const identities = options.identities ?? SHARED_IDENTITIES;
  const read = readPayload(body, caps, identities);
  const { arena } = read;
  const check = new SeriesChecker(nowSeconds, window);
  const pointsOf = v2Points(check, arena);
  return eachSeries(read.keys, options, (_key, index) => {
    arena.used = read.at[index]!;
    const known = read.known[index];
    if (known === undefined) {
      // Not seen before: the v2 path itself, on the decoded series; its identity is kept once it passed.
      const series = v2Series(read.decoded[index], index, check, pointsOf);
      identities.set(read.keys[index]!, { metric: series.metric, host: series.host, tags: series.tags });
      return series;
    }
    // Seen before: metric, host and tags passed already; the rest is checked in v2Series' order.
    const where = `series[${index}]`;
    const type = V2_TYPES[read.types[index]!];
    if (type === undefined) throw invalid(`${where}.type must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)`);
    const interval = check.interval(read.intervals[index], where);
    const count = read.counts[index]!;
    if (count === 0) throw invalid(`${where}.points must be a non-empty array`);
    const points = arena.take(count);
    for (let p = 0; p < count; p++) check.point(points[p * 2], points[p * 2 + 1], where, p, points);
    const unit = read.units[index]!;
    return { metric: known.metric, type, interval, host: known.host, tags: known.tags, unit: unit !== '' ? unit : null, points };
  });
}

/** Per series, in parallel arrays: what `scanSeries` read; its points are in `arena` from `at` on. */
interface ReadPayload {
  /** Its identity's bytes (the cache key). */
  keys: string[];
  /** Its identity, when the cache knew it… */
  known: Array<SeriesIdentity | undefined>;
  /** …else the series decoded. */
  decoded: Array<ProtoMetricSeries | undefined>;
  types: number[];
  units: string[];
  intervals: number[];
  counts: number[];
  at: number[];
  arena: PointArena;
}

/**
 * Reads every series before any is checked, as decoding the whole payload did: malformed bytes
 * anywhere refuse the whole payload, with the message `decodeSeries` gives.
 */
function readPayload(body: Buffer, caps: PayloadCaps, identities: SeriesIdentityCache): ReadPayload {
  const reader = protobuf.Reader.create(body);
  try {
    // Caps first, allocating nothing: a payload over them costs a walk, not its objects.
    const { points } = countMetricPayload(body, caps);
    const read: ReadPayload = { keys: [], known: [], decoded: [], types: [], units: [], intervals: [], counts: [], at: [], arena: new PointArena(points) };
    const scan: SeriesScan = { identity: '', type: 0, unit: '', interval: 0, count: 0 };
    const counts = { points: 0, tags: 0 };
    let at = 0;
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag !== SERIES_FIELD) {
        reader.skipType(tag & 7);
        continue;
      }
      const end = endOf(reader);
      const start = reader.pos;
      try {
        scanSeries(body, reader, end, read.arena.values, at, scan);
      } catch (error) {
        // Its own words for the same bytes: decodeSeries reads the fields in the same order.
        reader.pos = start;
        decodeSeries(reader, end, counts, caps);
        throw error;
      }
      const identity = identities.get(scan.identity);
      read.known.push(identity);
      if (identity !== undefined) read.decoded.push(undefined);
      else {
        reader.pos = start;
        read.decoded.push(decodeSeries(reader, end, counts, caps));
      }
      read.keys.push(scan.identity);
      read.types.push(scan.type);
      read.units.push(scan.unit);
      read.intervals.push(scan.interval);
      read.counts.push(scan.count);
      read.at.push(at);
      at += scan.count * 2;
    }
    if (read.keys.length === 0) throw invalid('"series" is empty; send at least one series');
    return read;
  } catch (error) {
    if (error instanceof RekeyError) throw error;
    throw invalid(`The body is not a valid protobuf MetricPayload: ${(error as Error).message.slice(0, 200)}`);
  }
}

/** Tag bytes of MetricPayload.series (field 1, length-delimited). */
const SERIES_FIELD = (1 << 3) | 2;
