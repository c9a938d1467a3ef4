/**
 * The points and hosts of a payload the relay forwards, for the sending key's usage minutes and
 * its points/min limit (issue 19): the relay forwards bodies byte for byte, so counting means
 * reading them — a second, read-only decoding beside the forwarding, after the agent has its 202.
 *
 * What is counted is what the intake counts in standalone mode, read from the payload as sent
 * (the upstream, not rekey, decides which points it keeps):
 *   - `/api/v1/series` (JSON), `/api/v2/series` (JSON or the Agent 7 protobuf MetricPayload):
 *     each series' points, under its host (v1 `host`; v2 the `host` resource);
 *   - `/api/v1/distribution_points` (JSON): each point's values, under its host.
 * Other paths (logs, traces, sketches, check runs…) count no points, as in standalone mode.
 *
 * The body is decompressed and decoded with the intake's own bounds (its byte limits and work
 * caps, payload-caps.ts), so a decompression bomb sent through the relay costs what it costs
 * the intake: a refusal after its first megabytes. A payload that cannot be read (malformed,
 * over a cap, an unknown encoding) counts 0: the upstream will refuse it or not; counting must
 * never hold or change what is forwarded.
 *
 * Why after the 202, not before: it is not free. Measured on the shared 2-core machine
 * (2026-11-30, load 7–8), for bench/relay-vs-proxy.ts's body (100-point v2 JSON, 491 bytes
 * gzipped, 5 KB plain): 113–144 µs of CPU per payload — gunzip ~25 µs, the caps' JsonScanner
 * ~28 µs (since skipped for bodies up to 64 KiB, as in the intake), JSON.parse ~62 µs. Done first, every agent would wait for it; after the 202 it costs
 * throughput, not latency: the built relay's CPU per such request (/proc utime+stime, 5 rounds
 * of 4,000, 20 in flight, load 9–14) went from a median 553 µs to 635–688 µs, +15–25 %, which
 * would take bench/relay-vs-proxy.ts's last 0.829 to about 0.67–0.72 (goal 0.80) on a machine
 * where the relay's CPU is the limit. Chosen anyway: without it a relay key's usage shows no
 * points or hosts and its points/min limit is never reached. A single-pass counter (no
 * JSON.parse, ~62 µs of the above) is the next step if the goal must hold.
 */
import { parseContentEncoding } from '../intake/decompress-body.js';
import { decodeWithCaps } from '../intake/intake-body.js';
import { headerValue, PROTOBUF_TYPE } from '../intake/intake-request.js';
import type { IntakeLimits } from '../intake/intake-limits.js';
import { decodeMetricPayload } from '../intake/metric-payload-proto.js';
import { MAX_HOST_NAME } from '../intake/series-limits.js';
import { parseBoundedJson, type PayloadCaps } from '../intake/payload-caps.js';

/** A payload's points per host ('' for points without one); empty when it has none. */
export type PointsPerHost = Map<string, number>;

type Format = 'v1' | 'v2' | 'distribution';

/** Which counting a forwarded path gets; undefined for paths without points. */
function formatOf(path: string): Format | undefined {
  const bare = path.split('?', 1)[0]!;
  if (bare === '/api/v1/series') return 'v1';
  if (bare === '/api/v2/series') return 'v2';
  if (bare === '/api/v1/distribution_points') return 'distribution';
  return undefined;
}

/** True when `path` carries points the relay counts (so a caller can skip the rest cheaply). */
export function countsPoints(path: string): boolean {
  return formatOf(path) !== undefined;
}

/**
 * The points per host of a forwarded body (`headers` as forwarded: lower-case names). Never
 * throws: a payload it cannot read counts as none.
 */
export async function pointsOfForwarded(
  path: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body: Buffer,
  limits: IntakeLimits,
  caps: PayloadCaps,
): Promise<PointsPerHost> {
  const counts: PointsPerHost = new Map();
  const format = formatOf(path);
  if (format === undefined || body.length === 0) return counts;
  const header = (name: string) => headerValue(headers.find(([n]) => n === name)?.[1]);
  try {
    const encoding = parseContentEncoding(header('content-encoding'));
    const protobuf = format === 'v2' && PROTOBUF_TYPE.test(header('content-type') ?? '');
    const decoded = await decodeWithCaps(body, encoding, protobuf, limits.decodedBytes, caps);
    if (protobuf) {
      for (const series of decodeMetricPayload(decoded, caps).series) {
        add(counts, series.resources.find((r) => r.type === 'host')?.name, series.points.length);
      }
      return counts;
    }
    // As the intake's series routes: a small body needs no work scan (payload-caps.ts), since
    // countJson reads known fields at a fixed depth.
    countJson(format, await parseBoundedJson(decoded, caps, { shapeOnly: true }), counts);
  } catch {
    counts.clear(); // unreadable: counts nothing (the upstream judges it)
  }
  return counts;
}

function countJson(format: Format, payload: unknown, counts: PointsPerHost): void {
  const series = isObject(payload) ? payload.series : undefined;
  if (!Array.isArray(series)) return;
  for (const raw of series as unknown[]) {
    if (!isObject(raw) || !Array.isArray(raw.points)) continue;
    const points = raw.points as unknown[];
    if (format === 'v1') add(counts, raw.host, points.length);
    else if (format === 'v2') add(counts, v2Host(raw.resources), points.length);
    else {
      // [[ts, [values…]], …]: each value is a point, as the intake counts distributions.
      let values = 0;
      for (const point of points) if (Array.isArray(point) && Array.isArray(point[1])) values += (point[1] as unknown[]).length;
      add(counts, raw.host, values);
    }
  }
}

function v2Host(resources: unknown): unknown {
  if (!Array.isArray(resources)) return undefined;
  for (const resource of resources as unknown[]) if (isObject(resource) && resource.type === 'host') return resource.name;
  return undefined;
}

function add(counts: PointsPerHost, host: unknown, points: number): void {
  if (points <= 0) return;
  // A host name the intake would refuse (not a string, too long) is counted without a host.
  const name = typeof host === 'string' && host.length <= MAX_HOST_NAME ? host : '';
  counts.set(name, (counts.get(name) ?? 0) + points);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
