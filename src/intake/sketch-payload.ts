/**
 * `POST /api/beta/sketches`: the Agent's protobuf `SketchPayload` — distributions as
 * DDSketches, one `Sketch` per series (metric, host, tags) holding one `Dogsketch` per 10 s
 * bucket (its bins as keys `k` and counts `n`, and the exact cnt/min/max/avg/sum). The schema
 * below is written from the field numbers of agent-payload's `proto/metrics/agent_payload.proto`,
 * so a real Datadog Agent 7's payload is understood; rekey-agent encodes with it too. The
 * older `distributions` field (3) is skipped: Agents since 6.x send `dogsketches` (7).
 *
 * Decoding walks the bytes with protobufjs's Reader, counting sketches (the series cap),
 * dogsketches (the points cap), tags and bins as it goes, so no payload costs more than its
 * caps allow (payload-caps.ts). Validation is per sketch, as for series (issue 14): a bad
 * sketch is left out and named in `errors`, the others are kept; none valid is a 400.
 */
import protobuf from 'protobufjs';
import { RekeyError, rekeyError } from '../errors.js';
import type { Dogsketch } from '../points/agent-sketch.js';
import { DEFAULT_PAYLOAD_CAPS, tooComplex, type PayloadCaps } from './payload-caps.js';
import type { TimestampWindow } from './series-payload.js';
import { MAX_HOST_NAME, MAX_METRIC_NAME, MAX_TAG_LENGTH, MAX_TAGS } from './series-limits.js';

const PROTO = `
syntax = "proto3";
package datadog.agentpayload;

message SketchPayload {
  message Sketch {
    message Dogsketch {
      int64 ts = 1;
      int64 cnt = 2;
      double min = 3;
      double max = 4;
      double avg = 5;
      double sum = 6;
      repeated sint32 k = 7;
      repeated uint32 n = 8;
    }
    string metric = 1;
    string host = 2;
    repeated string tags = 4;
    repeated Dogsketch dogsketches = 7;
  }
  message CommonMetadata {
    string agent_version = 1;
  }
  repeated Sketch sketches = 1;
  CommonMetadata metadata = 2;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;

/** The protobufjs type rekey-agent encodes with. */
export const SketchPayloadType = root.lookupType('datadog.agentpayload.SketchPayload');
const DogsketchType = root.lookupType('datadog.agentpayload.SketchPayload.Sketch.Dogsketch');

/** One Dogsketch as bytes (its protobuf message): how the server stores a sketch (sketch-store.ts). */
export function encodeDogsketch(sketch: Dogsketch): Uint8Array {
  return DogsketchType.encode(DogsketchType.fromObject(sketch)).finish();
}

export function decodeDogsketch(bytes: Uint8Array): Dogsketch {
  const reader = protobuf.Reader.create(bytes);
  return readDogsketch(reader, reader.len, { bins: 0 });
}

/** One series' sketches, as sent. */
export interface ProtoSketch {
  metric: string;
  host: string;
  tags: string[];
  dogsketches: Dogsketch[];
}

/** One series' sketch for one bucket, validated: what the server stores. */
export interface IntakeSketch {
  metric: string;
  host: string;
  /** Sorted, de-duplicated. */
  tags: string[];
  sketch: Dogsketch;
}

/** Bins in one payload, across its dogsketches (the Agent keeps at most 4,096 per sketch). */
const MAX_BINS_PER_PAYLOAD = 2_000_000;
const MAX_BINS_PER_SKETCH = 65_536;

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

/** The encoded SketchPayload of `sketches` (rekey-agent). */
export function encodeSketchPayload(sketches: readonly ProtoSketch[], agentVersion: string): Uint8Array {
  return SketchPayloadType.encode(SketchPayloadType.fromObject({ sketches, metadata: { agent_version: agentVersion } })).finish();
}

/**
 * The valid sketches of a payload. With `errors`, an invalid sketch is left out and its problem
 * appended; a payload with none valid, a malformed one or one over a cap is refused whole.
 */
export function decodeSketchPayload(
  body: Uint8Array,
  nowSeconds: number,
  window: TimestampWindow,
  options: { caps?: PayloadCaps; errors?: string[] } = {},
): IntakeSketch[] {
  let sketches: ProtoSketch[];
  try {
    sketches = readSketches(body, options.caps ?? DEFAULT_PAYLOAD_CAPS);
  } catch (error) {
    if (error instanceof RekeyError) throw error;
    throw invalid(`The body is not a valid protobuf SketchPayload: ${(error as Error).message.slice(0, 200)}`);
  }
  if (sketches.length === 0) throw invalid('The payload holds no sketch; send at least one');
  const out: IntakeSketch[] = [];
  const problems: string[] = [];
  sketches.forEach((sketch, index) => {
    try {
      out.push(...validSketches(sketch, `sketches[${index}]`, nowSeconds, window));
    } catch (error) {
      if (!(error instanceof RekeyError) || options.errors === undefined) throw error;
      problems.push(error.message);
    }
  });
  if (out.length === 0 && problems.length > 0) throw invalid(`No valid sketch in the payload: ${problems.slice(0, 3).join('; ')}`);
  options.errors?.push(...problems);
  return out;
}

function validSketches(sketch: ProtoSketch, where: string, nowSeconds: number, window: TimestampWindow): IntakeSketch[] {
  if (sketch.metric.length === 0) throw invalid(`${where}.metric must be a non-empty string`);
  if (sketch.metric.length > MAX_METRIC_NAME) throw invalid(`${where}.metric is longer than ${MAX_METRIC_NAME} characters`);
  if (sketch.host.length > MAX_HOST_NAME) throw invalid(`${where}.host is longer than ${MAX_HOST_NAME} characters`);
  if (sketch.tags.length > MAX_TAGS) throw invalid(`${where}.tags has more than ${MAX_TAGS} tags`);
  if (sketch.tags.some((tag) => tag.length > MAX_TAG_LENGTH)) throw invalid(`${where}.tags has a tag longer than ${MAX_TAG_LENGTH} characters`);
  if (sketch.dogsketches.length === 0) throw invalid(`${where} has no dogsketches (field 7); this server reads the Agent 6+ sketch format`);
  const tags = [...new Set(sketch.tags)].sort();
  return sketch.dogsketches.map((d, i) => {
    const at = `${where}.dogsketches[${i}]`;
    if (d.ts > nowSeconds + window.futureSeconds)
      throw invalid(`${at}.ts ${d.ts} is more than ${window.futureSeconds} s in the future; check the sender's clock`);
    if (d.ts < nowSeconds - window.maxAgeSeconds) throw invalid(`${at}.ts ${d.ts} is older than ${window.maxAgeSeconds} s`);
    if (d.k.length !== d.n.length) throw invalid(`${at} has ${d.k.length} keys (k) but ${d.n.length} counts (n)`);
    if (![d.min, d.max, d.sum, d.avg].every(Number.isFinite)) throw invalid(`${at} min, max, avg and sum must be finite`);
    if (d.cnt < 0) throw invalid(`${at}.cnt must not be negative`);
    if (d.cnt > 0 && d.min > d.max) throw invalid(`${at}.min is above its max`);
    return { metric: sketch.metric, host: sketch.host, tags, sketch: d };
  });
}

/** Tag bytes (field number << 3 | wire type). */
const LEN = 2;
const VARINT = 0;
const FIXED64 = 1;
const tagOf = (field: number, wire: number) => (field << 3) | wire;

function endOf(reader: protobuf.Reader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) throw new RangeError(`embedded message of ${length} bytes at offset ${reader.pos} runs past the end`);
  return end;
}

function int64(reader: protobuf.Reader): number {
  const value = reader.int64() as unknown as number | { toNumber(): number };
  return typeof value === 'number' ? value : value.toNumber();
}

function readSketches(bytes: Uint8Array, caps: PayloadCaps): ProtoSketch[] {
  const reader = protobuf.Reader.create(bytes);
  const counts = { dogsketches: 0, tags: 0, bins: 0 };
  const sketches: ProtoSketch[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag !== tagOf(1, LEN)) {
      reader.skipType(tag & 7);
      continue;
    }
    if (sketches.length >= caps.maxSeries) throw tooComplex('sketches', caps.maxSeries);
    const end = endOf(reader);
    const sketch: ProtoSketch = { metric: '', host: '', tags: [], dogsketches: [] };
    while (reader.pos < end) {
      const field = reader.uint32();
      if (field === tagOf(1, LEN)) sketch.metric = reader.string();
      else if (field === tagOf(2, LEN)) sketch.host = reader.string();
      else if (field === tagOf(4, LEN)) {
        if (++counts.tags > caps.maxTags) throw tooComplex('tags', caps.maxTags);
        sketch.tags.push(reader.string());
      } else if (field === tagOf(7, LEN)) {
        if (++counts.dogsketches > caps.maxSketches) throw tooComplex('sketches (series × 10 s buckets)', caps.maxSketches);
        sketch.dogsketches.push(readDogsketch(reader, endOf(reader), counts));
      } else reader.skipType(field & 7);
    }
    if (reader.pos !== end) throw new RangeError(`a sketch ends past its declared length at offset ${reader.pos}`);
    sketches.push(sketch);
  }
  return sketches;
}

function readDogsketch(reader: protobuf.Reader, end: number, counts: { bins: number }): Dogsketch {
  const d: Dogsketch = { ts: 0, cnt: 0, min: 0, max: 0, avg: 0, sum: 0, k: [], n: [] };
  const bin = (list: number[], read: () => number) => {
    if (++counts.bins > MAX_BINS_PER_PAYLOAD) throw tooComplex('sketch bins', MAX_BINS_PER_PAYLOAD);
    if (list.length >= MAX_BINS_PER_SKETCH) throw tooComplex('bins in one sketch', MAX_BINS_PER_SKETCH);
    list.push(read());
  };
  while (reader.pos < end) {
    const field = reader.uint32();
    switch (field) {
      case tagOf(1, VARINT):
        d.ts = int64(reader);
        break;
      case tagOf(2, VARINT):
        d.cnt = int64(reader);
        break;
      case tagOf(3, FIXED64):
        d.min = reader.double();
        break;
      case tagOf(4, FIXED64):
        d.max = reader.double();
        break;
      case tagOf(5, FIXED64):
        d.avg = reader.double();
        break;
      case tagOf(6, FIXED64):
        d.sum = reader.double();
        break;
      case tagOf(7, LEN): {
        // Packed (what proto3 encoders write) …
        const packedEnd = endOf(reader);
        while (reader.pos < packedEnd) bin(d.k, () => reader.sint32());
        break;
      }
      case tagOf(7, VARINT): // … or one value per field, which a decoder must accept too.
        bin(d.k, () => reader.sint32());
        break;
      case tagOf(8, LEN): {
        const packedEnd = endOf(reader);
        while (reader.pos < packedEnd) bin(d.n, () => reader.uint32());
        break;
      }
      case tagOf(8, VARINT):
        bin(d.n, () => reader.uint32());
        break;
      default:
        reader.skipType(field & 7);
    }
  }
  if (reader.pos !== end) throw new RangeError(`a dogsketch ends past its declared length at offset ${reader.pos}`);
  return d;
}
