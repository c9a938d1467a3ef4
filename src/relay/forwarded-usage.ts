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
 * ~28 µs (since skipped for bodies up to 64 KiB, as in the intake), JSON.parse ~62 µs. Done
 * first, every agent would wait for it; after the 202 it costs throughput, not latency.
 *
 * Why a single pass over the bytes (json-points.ts), not JSON.parse: JSON.parse built every
 * point object, number and tag string for the counting to read a few array lengths. Measured
 * with bench/relay-count.ts (2026-12-01, load 7.3–7.7, µs of process CPU per body, median of 5
 * rounds of alternating slices, the built code): the 100-point payload 27.5 → 12.3 µs (×0.45),
 * a 64 KiB body 500 → 226 µs (×0.45), a 3 MB body 42.1 → 9.1 ms (×0.22; the caps' scan before
 * it, 20.6 ms, is paid in both). The whole counting of the gzipped 100-point payload is now
 * ~41 µs wall (gunzip ~14 µs of it). In the built relay under bench/relay-vs-proxy.ts's load
 * (A/B against the previous build, `--baseline`, 6 rounds, load 7.9–9.6): relay CPU per
 * request, median 352 → 333 µs (−5 %, lower in 6 of 6 rounds); requests/s relay ÷ proxy
 * median 0.603 (worst 0.326) against the previous build's 0.524 (worst 0.474) in the same
 * rounds — but an A/A run (the same build twice, load ~11) put relay ÷ relay anywhere from
 * 0.41 to 1.34, so on this shared machine the requests/s ratio cannot resolve a 5 % change.
 */
import { parseContentEncoding } from '../intake/decompress-body.js';
import { decodeWithCaps } from '../intake/intake-body.js';
import { headerValue, PROTOBUF_TYPE } from '../intake/intake-request.js';
import type { IntakeLimits } from '../intake/intake-limits.js';
import { decodeMetricPayload } from '../intake/metric-payload-proto.js';
import { scanJsonIfNeeded, type PayloadCaps } from '../intake/payload-caps.js';
import { addPoints, countJsonPoints, type JsonFormat, type PointsPerHost } from './json-points.js';

/** Which counting a forwarded path gets; undefined for paths without points. */
function formatOf(path: string): JsonFormat | undefined {
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
  const format = formatOf(path);
  if (format === undefined || body.length === 0) return new Map();
  const header = (name: string) => headerValue(headers.find(([n]) => n === name)?.[1]);
  try {
    const encoding = parseContentEncoding(header('content-encoding'));
    const protobuf = format === 'v2' && PROTOBUF_TYPE.test(header('content-type') ?? '');
    const decoded = await decodeWithCaps(body, encoding, protobuf, limits.decodedBytes, caps);
    if (protobuf) {
      const counts: PointsPerHost = new Map();
      for (const series of decodeMetricPayload(decoded, caps).series) {
        addPoints(counts, series.resources.find((r) => r.type === 'host')?.name, series.points.length);
      }
      return counts;
    }
    // The intake's work bound for a series body (payload-caps.ts): a small one needs no scan,
    // since the counting reads known fields at a fixed depth and skips the rest without recursion.
    await scanJsonIfNeeded(decoded, caps, { shapeOnly: true });
    return countJsonPoints(format, decoded) ?? new Map(); // not JSON: counts nothing (the upstream judges it)
  } catch {
    return new Map(); // unreadable or over a cap: counts nothing
  }
}
