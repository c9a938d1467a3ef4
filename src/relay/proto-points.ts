/**
 * The points per host of the Agent's protobuf payloads the relay forwards (forwarded-usage.ts):
 * a `MetricPayload` (`/api/v2/series`: each series' points, under its host resource) and a
 * `SketchPayload` (`/api/beta/sketches`: the values each dogsketch summarises, its `cnt`, under
 * the sketch's host — as the intake counts a stored one, sketch-routes.ts).
 *
 * Without the intake's work caps (payload-caps.ts): those bound what DECODING builds (objects per
 * series, point and tag), and a payload over them is refused by the standalone intake — but the
 * relay decodes nothing, it forwards, and a payload it could not count would be forwarded free
 * of its key's points/min limit (a hostile try: 170,000 points in one body counted 0). This
 * walk allocates only the host names (one string per resource or sketch naming it) and skips
 * every other field by its length, so its work is bounded by the body's bytes, whatever shape
 * they have. Malformed bytes throw (protobufjs's RangeError); the caller decides what that means.
 */
import protobuf from 'protobufjs';
import { addPoints, type PointsPerHost } from './json-points.js';

/** Tag bytes (field number << 3 | wire type) of the fields read here. */
const LEN = 2;
const VARINT = 0;
const tagOf = (field: number, wire: number) => (field << 3) | wire;

/** `MetricPayload.series[]` → each series' `points` count under the `name` of its first `type: "host"` resource. */
export function countMetricPayloadPoints(bytes: Uint8Array): PointsPerHost {
  const counts: PointsPerHost = new Map();
  forEachEntry(bytes, (reader, end) => {
    let points = 0;
    let host: string | undefined;
    let hostFound = false;
    while (reader.pos < end) {
      const field = reader.uint32();
      if (field === tagOf(4, LEN)) {
        points++;
        reader.skipType(LEN);
      } else if (field === tagOf(1, LEN)) {
        const resource = readResource(reader, endOf(reader));
        if (!hostFound && resource.type === 'host') {
          hostFound = true;
          host = resource.name;
        }
      } else reader.skipType(field & 7);
    }
    if (reader.pos !== end) throw new RangeError(`a series ends past its declared length at offset ${reader.pos}`);
    addPoints(counts, host, points);
  });
  return counts;
}

/** `SketchPayload.sketches[]` → the sum of each sketch's dogsketches' `cnt` under its `host`. */
export function countSketchPayloadPoints(bytes: Uint8Array): PointsPerHost {
  const counts: PointsPerHost = new Map();
  forEachEntry(bytes, (reader, end) => {
    let values = 0;
    let host = '';
    while (reader.pos < end) {
      const field = reader.uint32();
      if (field === tagOf(2, LEN)) host = reader.string();
      else if (field === tagOf(7, LEN)) values += dogsketchCount(reader, endOf(reader));
      else reader.skipType(field & 7);
    }
    if (reader.pos !== end) throw new RangeError(`a sketch ends past its declared length at offset ${reader.pos}`);
    addPoints(counts, host, values);
  });
  return counts;
}

/**
 * Calls `each` for every length-delimited field 1 at the top level of a payload — a
 * MetricPayload's series, a SketchPayload's sketches — with where it ends; other fields skipped.
 */
function forEachEntry(bytes: Uint8Array, each: (reader: protobuf.Reader, end: number) => void): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag !== tagOf(1, LEN)) reader.skipType(tag & 7);
    else each(reader, endOf(reader));
  }
}

/** A Resource's `type` and `name` (the last of each, as protobuf decoding keeps). */
function readResource(reader: protobuf.Reader, end: number): { type: string; name: string } {
  const resource = { type: '', name: '' };
  while (reader.pos < end) {
    const field = reader.uint32();
    if (field === tagOf(1, LEN)) resource.type = reader.string();
    else if (field === tagOf(2, LEN)) resource.name = reader.string();
    else reader.skipType(field & 7);
  }
  return resource;
}

/** A Dogsketch's `cnt` (field 2; the last one given), 0 when negative (the intake refuses those). */
function dogsketchCount(reader: protobuf.Reader, end: number): number {
  let cnt = 0;
  while (reader.pos < end) {
    const field = reader.uint32();
    if (field === tagOf(2, VARINT)) {
      const value = reader.int64() as unknown as number | { toNumber(): number };
      cnt = typeof value === 'number' ? value : value.toNumber();
    } else reader.skipType(field & 7);
  }
  if (reader.pos !== end) throw new RangeError(`a dogsketch ends past its declared length at offset ${reader.pos}`);
  return Math.max(0, cnt);
}

/** Reads a length prefix and returns where the embedded message ends. */
function endOf(reader: protobuf.Reader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) throw new RangeError(`embedded message of ${length} bytes at offset ${reader.pos} runs past the end`);
  return end;
}
