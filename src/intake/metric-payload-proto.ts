/**
 * The Agent 7 protobuf `MetricPayload` (docs/product.md §3), decoded with protobufjs from a schema
 * written with the field numbers the Datadog Agent uses (agent-payload's
 * `proto/metrics/agent_payload.proto`), so an unmodified Agent 7 is understood.
 * The schema is parsed once, at import; it is what tests and benchmarks encode with.
 *
 * Decoding does not use `MetricPayloadType.decode`: that builds every message of the payload
 * before anything can be checked, and 5 MiB of empty series are 2.6 million of them (19.6 s
 * of main-thread work, measured). `decodeMetricPayload` walks the bytes with protobufjs's
 * `Reader`, counting series, points and tags as it goes, and stops at the first cap passed
 * (payload-caps.ts), so no payload costs more than its caps allow.
 */
import protobuf from 'protobufjs';
import { DEFAULT_PAYLOAD_CAPS, tooComplex, type PayloadCaps } from './payload-caps.js';

const PROTO = `
syntax = "proto3";
package datadog.agentpayload;

message MetricPayload {
  enum MetricType {
    UNSPECIFIED = 0;
    COUNT = 1;
    RATE = 2;
    GAUGE = 3;
  }
  message MetricPoint {
    double value = 1;
    int64 timestamp = 2;
  }
  message Resource {
    string type = 1;
    string name = 2;
  }
  message MetricSeries {
    repeated Resource resources = 1;
    string metric = 2;
    repeated string tags = 3;
    repeated MetricPoint points = 4;
    MetricType type = 5;
    string unit = 6;
    string source_type_name = 7;
    int64 interval = 8;
  }
  repeated MetricSeries series = 1;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;

/** The protobufjs type, for encoding in tests and benchmarks. */
export const MetricPayloadType = root.lookupType('datadog.agentpayload.MetricPayload');

export interface ProtoMetricSeries {
  resources: Array<{ type: string; name: string }>;
  metric: string;
  tags: string[];
  points: Array<{ value: number; timestamp: number }>;
  type: number;
  unit: string;
  source_type_name: string;
  interval: number;
}

/**
 * Decodes a MetricPayload, counting as it goes: PAYLOAD_TOO_COMPLEX (a RekeyError) as soon as
 * a cap is passed; protobufjs's error (an Error) on malformed bytes. Unknown fields are skipped.
 */
export function decodeMetricPayload(bytes: Uint8Array, caps: PayloadCaps = DEFAULT_PAYLOAD_CAPS): { series: ProtoMetricSeries[] } {
  countMetricPayload(bytes, caps);
  const reader = protobuf.Reader.create(bytes);
  const counts = { points: 0, tags: 0 };
  const series: ProtoMetricSeries[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === FIELD_1_LEN) {
      if (series.length >= caps.maxSeries) throw tooComplex('series', caps.maxSeries);
      series.push(decodeSeries(reader, endOf(reader), counts, caps));
    } else reader.skipType(tag & 7);
  }
  return { series };
}

export type Reader = protobuf.Reader;

/**
 * Counts the top-level `series` entries of a MetricPayload as its bytes arrive (`push` per
 * decompressed chunk), throwing PAYLOAD_TOO_COMPLEX past `caps.maxSeries`: 5 MiB of empty
 * series is refused after its first ~100 KB are inflated, not after all of it. Only the
 * top level is walked (tag, length, skip); `decodeMetricPayload` checks everything else.
 */
export class MetricPayloadCounter {
  private series = 0;
  /** Parsing state: a varint being read (tag, length or value), or bytes being skipped. */
  private state: 'tag' | 'length' | 'varint' | 'skip' = 'tag';
  private varint = 0;
  private shift = 0;
  private field = 0;
  private skip = 0;

  constructor(private readonly caps: PayloadCaps) {}

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'skip') {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.state = 'tag';
        continue;
      }
      const byte = chunk[i++]!;
      // Lengths and tags above 2^28 are not sensible here; the decoder refuses them later.
      if (this.shift < 28) this.varint += (byte & 0x7f) * 2 ** this.shift;
      this.shift += 7;
      if (byte & 0x80) continue;
      const value = this.varint;
      this.varint = 0;
      this.shift = 0;
      if (this.state === 'tag') {
        this.field = value;
        const wireType = value & 7;
        if (wireType === 2) this.state = 'length';
        else if (wireType === 0) this.state = 'varint';
        else if (wireType === 1 || wireType === 5) this.startSkip(wireType === 1 ? 8 : 4);
        else return; // groups or garbage: leave it to the decoder, which refuses what it must
      } else if (this.state === 'length') {
        if (this.field === FIELD_1_LEN && ++this.series > this.caps.maxSeries) throw tooComplex('series', this.caps.maxSeries);
        this.startSkip(value);
      } else {
        this.state = 'tag';
      }
    }
  }

  private startSkip(bytes: number): void {
    this.skip = bytes;
    this.state = bytes === 0 ? 'tag' : 'skip';
  }
}

/**
 * A first pass that only counts — series, points, tags and resources, skipping every other
 * byte by its length, allocating nothing — and throws PAYLOAD_TOO_COMPLEX at the first cap
 * passed. A payload over a cap (5 MiB of empty series) then costs a walk of its first
 * entries, not the objects decoding would build; a payload within the caps is walked twice
 * (the walk is a small part of decoding).
 */
export function countMetricPayload(bytes: Uint8Array, caps: PayloadCaps): { series: number; points: number } {
  const reader = protobuf.Reader.create(bytes);
  let series = 0;
  let points = 0;
  let tags = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag !== FIELD_1_LEN) {
      reader.skipType(tag & 7);
      continue;
    }
    if (++series > caps.maxSeries) throw tooComplex('series', caps.maxSeries);
    const end = endOf(reader);
    while (reader.pos < end) {
      const field = reader.uint32();
      if (field === FIELD_4_LEN) {
        if (++points > caps.maxPoints) throw tooComplex('points', caps.maxPoints);
      } else if (field === FIELD_3_LEN || field === FIELD_1_LEN) {
        if (++tags > caps.maxTags) throw tooComplex('tags', caps.maxTags);
      }
      reader.skipType(field & 7);
    }
  }
  return { series, points };
}

/** Tag bytes (field number << 3 | wire type) of the fields read here. */
const FIELD_1_LEN = (1 << 3) | 2;
const FIELD_2_LEN = (2 << 3) | 2;
const FIELD_3_LEN = (3 << 3) | 2;
const FIELD_4_LEN = (4 << 3) | 2;
const FIELD_5_VARINT = 5 << 3;
const FIELD_6_LEN = (6 << 3) | 2;
const FIELD_7_LEN = (7 << 3) | 2;
const FIELD_8_VARINT = 8 << 3;
const FIELD_1_FIXED64 = (1 << 3) | 1;
const FIELD_2_VARINT = 2 << 3;

/** Reads a length prefix and returns where the embedded message ends. */
export function endOf(reader: Reader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) throw new RangeError(`embedded message of ${length} bytes at offset ${reader.pos} runs past the end`);
  return end;
}

function int64(reader: Reader): number {
  const value = reader.int64() as unknown as number | { toNumber(): number };
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * An embedded message whose last field runs past its declared length. Refused (a protobuf
 * decoder refuses such bytes): read on, its fields would take bytes of the fields after it, so
 * what a series says would depend on more than its own fields' bytes (series-identity-cache.ts
 * relies on it not doing so).
 */
function pastEnd(what: string, reader: Reader): RangeError {
  return new RangeError(`${what} ends past its declared length at offset ${reader.pos}`);
}

export function decodeSeries(reader: Reader, end: number, counts: { points: number; tags: number }, caps: PayloadCaps): ProtoMetricSeries {
  const series: ProtoMetricSeries = { resources: [], metric: '', tags: [], points: [], type: 0, unit: '', source_type_name: '', interval: 0 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case FIELD_1_LEN: {
        // Resources count against the tag cap: they are strings of the same kind.
        if (++counts.tags > caps.maxTags) throw tooComplex('tags', caps.maxTags);
        const resourceEnd = endOf(reader);
        const resource = { type: '', name: '' };
        while (reader.pos < resourceEnd) {
          const field = reader.uint32();
          if (field === FIELD_1_LEN) resource.type = reader.string();
          else if (field === FIELD_2_LEN) resource.name = reader.string();
          else reader.skipType(field & 7);
        }
        if (reader.pos !== resourceEnd) throw pastEnd('a resource', reader);
        series.resources.push(resource);
        break;
      }
      case FIELD_2_LEN:
        series.metric = reader.string();
        break;
      case FIELD_3_LEN:
        if (++counts.tags > caps.maxTags) throw tooComplex('tags', caps.maxTags);
        series.tags.push(reader.string());
        break;
      case FIELD_4_LEN: {
        if (++counts.points > caps.maxPoints) throw tooComplex('points', caps.maxPoints);
        const pointEnd = endOf(reader);
        const point = { value: 0, timestamp: 0 };
        while (reader.pos < pointEnd) {
          const field = reader.uint32();
          if (field === FIELD_1_FIXED64) point.value = reader.double();
          else if (field === FIELD_2_VARINT) point.timestamp = int64(reader);
          else reader.skipType(field & 7);
        }
        if (reader.pos !== pointEnd) throw pastEnd('a point', reader);
        series.points.push(point);
        break;
      }
      case FIELD_5_VARINT:
        series.type = reader.int32();
        break;
      case FIELD_6_LEN:
        series.unit = reader.string();
        break;
      case FIELD_7_LEN:
        series.source_type_name = reader.string();
        break;
      case FIELD_8_VARINT:
        series.interval = int64(reader);
        break;
      default:
        reader.skipType(tag & 7);
    }
  }
  if (reader.pos !== end) throw pastEnd('a series', reader);
  return series;
}

/** What `scanSeries` read of one series besides its identity (metric, tags, resources). */
export interface SeriesScan {
  /** The identity fields' bytes, each with its tag and length (see `scanSeries`); '' when it has none. */
  identity: string;
  type: number;
  unit: string;
  interval: number;
  /** Points written to `points` from `at` on, as sent: [timestamp, value] pairs. */
  count: number;
}

/**
 * Reads one series message in one pass without decoding its identity: the metric, tags and
 * resources fields are kept as their raw bytes, tag and length included, in the order sent
 * (`identity`, one byte per char). Those pieces delimit themselves, so two series have the
 * same `identity` exactly when they send the same identity fields in the same order, and
 * `decodeSeries` then reads the same metric, tags and resources from both. The points go into
 * `points` at `at` as sent; the caller has room for them (countMetricPayload). Fills `scan`
 * (one object reused for every series of a payload). Malformed bytes throw as `decodeSeries`
 * does.
 */
export function scanSeries(bytes: Buffer, reader: Reader, end: number, points: Float64Array, at: number, scan: SeriesScan): void {
  scan.identity = '';
  scan.type = 0;
  scan.unit = '';
  scan.interval = 0;
  // The identity's bytes: one range while its fields come one after another (as every Agent
  // sends them: resources, metric, tags first), else joined piece by piece.
  let from = -1;
  let to = -1;
  let pieces = '';
  let p = at;
  while (reader.pos < end) {
    const fieldAt = reader.pos;
    const tag = reader.uint32();
    switch (tag) {
      case FIELD_1_LEN:
      case FIELD_2_LEN:
      case FIELD_3_LEN:
        reader.skip(reader.uint32());
        if (fieldAt !== to) {
          if (from !== -1) pieces += bytes.toString('latin1', from, to);
          from = fieldAt;
        }
        to = reader.pos;
        break;
      case FIELD_4_LEN: {
        const pointEnd = endOf(reader);
        let value = 0;
        let timestamp = 0;
        while (reader.pos < pointEnd) {
          const field = reader.uint32();
          if (field === FIELD_1_FIXED64) value = reader.double();
          else if (field === FIELD_2_VARINT) timestamp = int64(reader);
          else reader.skipType(field & 7);
        }
        if (reader.pos !== pointEnd) throw pastEnd('a point', reader);
        points[p++] = timestamp;
        points[p++] = value;
        break;
      }
      case FIELD_5_VARINT:
        scan.type = reader.int32();
        break;
      case FIELD_6_LEN:
        scan.unit = reader.string();
        break;
      case FIELD_8_VARINT:
        scan.interval = int64(reader);
        break;
      default:
        reader.skipType(tag & 7);
    }
  }
  if (reader.pos !== end) throw pastEnd('a series', reader);
  if (from !== -1) scan.identity = pieces + bytes.toString('latin1', from, to);
  scan.count = (p - at) / 2;
}
