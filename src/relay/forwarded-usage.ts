/**
 * The points and hosts of a payload the relay forwards, for the sending key's usage minutes and
 * its points/min limit (issue 19): the relay forwards bodies byte for byte, so counting means
 * reading them — a second, read-only decoding beside the forwarding, after the agent has its 202.
 *
 * What is counted is what the intake counts in standalone mode, read from the payload as sent
 * (the upstream, not rekey, decides which points it keeps):
 *   - `/api/v1/series` (JSON), `/api/v2/series` (JSON or the Agent 7 protobuf MetricPayload):
 *     each series' points, under its host (v1 `host`; v2 the `host` resource);
 *   - `/api/v1/distribution_points` (JSON): each point's values, under its host;
 *   - `/api/beta/sketches` (the Agent's protobuf SketchPayload): each dogsketch's values (`cnt`).
 * Other paths (logs, traces, check runs…) count no points, as in standalone mode.
 *
 * The body is decompressed within the route's decoded byte limit (intake-limits.ts: Datadog's
 * own, 5 MiB for v2; 62 MiB for v1, counted up to MAX_COUNTED_BYTES, 8 MiB), so a
 * decompression bomb costs at most that, then counted
 * WITHOUT the intake's work caps (payload-caps.ts): those bound what decoding builds, and the
 * counting builds nothing — json-points.ts and proto-points.ts do bounded work per byte
 * whatever the shape (no recursion, no object per value). With the caps, a body over one (a
 * 65-deep junk field, a 500,000-value array, a legitimate 170,000-point body) counted 0 and was
 * forwarded whole: a points/min limit bypassed (a hostile try, 2026-12-01).
 *
 * A key WITH a points/min limit has its payload counted before it is spooled (intake-relay.ts:
 * its points are held against the limit, key-limits.ts), and a payload that cannot be counted —
 * over that byte limit (413 PAYLOAD_TOO_LARGE), an unknown encoding (415), corrupt
 * compression or not the JSON or protobuf it says it is (400 INVALID_PAYLOAD) — is refused with
 * the error the standalone intake gives, as Datadog refuses a payload over its documented
 * limits: forwarding it uncounted would be the bypass again (`readForwardedPoints`). A key
 * without one is counted after its 202, and a payload that cannot be read counts 0 and is
 * forwarded as sent — the upstream judges it (intake-relay.ts `countForwardedPoints`).
 *
 * Why after the 202 for keys without a points limit: it is not free. Measured on the shared 2-core machine
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
import { rekeyError } from '../errors.js';
import { decompressBody, parseContentEncoding } from '../intake/decompress-body.js';
import { headerValue, PROTOBUF_TYPE } from '../intake/intake-request.js';
import type { IntakeLimits } from '../intake/intake-limits.js';
import { countJsonPoints, type JsonFormat, type PointsPerHost } from './json-points.js';
import { countMetricPayloadPoints, countSketchPayloadPoints } from './proto-points.js';

type Format = JsonFormat | 'sketches';

/**
 * The most bytes counted once decompressed, below the v1 routes' 62 MiB: the counting is one
 * synchronous pass, and its costliest bytes are a junk array of tiny values — 8 MiB of
 * `[0,0,…]`, from 8 KiB of gzip, held the event loop 72–142 ms (2026-12-01, load ~9; a
 * realistic 15.5 MiB series body 66–99 ms), so Datadog's v1 maximum would hold it well over
 * half a second. 8 MiB is twice the largest v1 payload the Datadog Agent sends (4 MiB
 * uncompressed, payload-caps.ts) and more than v2's 5 MiB. The relay now counts a large body
 * on a worker thread (counting-thread.ts); this bound still caps each body's work there.
 */
export const MAX_COUNTED_BYTES = 8 * 1024 * 1024;

/**
 * Which counting a forwarded path gets; undefined for paths without points. The path is
 * forwarded as sent, so its spellings an upstream may still route to the same intake count
 * too — a trailing or doubled slash, percent-encoded letters, another case — or a points
 * limit would be bypassed by `/api/v2/series/` (it reaches the relay through `/api/*`).
 */
function formatOf(path: string): Format | undefined {
  const bare = path.split('?', 1)[0]!;
  // As the Agent spells them first: this runs a few times per forwarded request.
  return FORMATS.get(bare) ?? FORMATS.get(canonical(bare));
}

const FORMATS = new Map<string, Format>([
  ['/api/v1/series', 'v1'],
  ['/api/v2/series', 'v2'],
  ['/api/v1/distribution_points', 'distribution'],
  ['/api/beta/sketches', 'sketches'],
]);

/** `path` decoded, lower-case, without doubled or trailing slashes. */
function canonical(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // not valid percent-encoding: as sent
  }
  return decoded
    .toLowerCase()
    .replace(/\/{2,}/g, '/')
    .replace(/\/+$/, '');
}

/** True when `path` carries points the relay counts (so a caller can skip the rest cheaply). */
export function countsPoints(path: string): boolean {
  return formatOf(path) !== undefined;
}

/**
 * The points per host of a forwarded body (`headers` as forwarded: lower-case names), or the
 * intake's error (a RekeyError) for a body that cannot be counted: PAYLOAD_TOO_LARGE (over
 * `limits.decodedBytes` once decompressed), UNSUPPORTED_ENCODING, INVALID_PAYLOAD.
 */
export async function readForwardedPoints(
  path: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body: Buffer,
  limits: IntakeLimits,
): Promise<PointsPerHost> {
  const format = formatOf(path);
  if (format === undefined || body.length === 0) return new Map();
  const header = (name: string) => headerValue(headers.find(([n]) => n === name)?.[1]);
  const encoding = parseContentEncoding(header('content-encoding'));
  const decodedLimit = Math.min(limits.decodedBytes, MAX_COUNTED_BYTES);
  if (encoding === 'identity' && body.length > decodedLimit) throw rekeyError('PAYLOAD_TOO_LARGE', { what: 'payload', limit: decodedLimit });
  const decoded = await decompressBody(body, encoding, decodedLimit);
  if (format === 'sketches' || (format === 'v2' && PROTOBUF_TYPE.test(header('content-type') ?? ''))) {
    try {
      return format === 'sketches' ? countSketchPayloadPoints(decoded) : countMetricPayloadPoints(decoded);
    } catch {
      throw rekeyError('INVALID_PAYLOAD', { detail: `The body is not a valid protobuf ${format === 'sketches' ? 'SketchPayload' : 'MetricPayload'}` });
    }
  }
  const counts = countJsonPoints(format, decoded);
  if (counts === undefined) throw rekeyError('INVALID_PAYLOAD', { detail: 'The body is not valid JSON' });
  return counts;
}
