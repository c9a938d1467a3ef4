/**
 * Bounds on the WORK one intake payload can cause, beside the byte limits of intake-limits.ts.
 *
 * Bytes alone do not bound the work: 61 KB of gzip expands to 62 MiB of `{},` (21 million
 * JSON objects: ~100 s of main-thread JSON.parse and GBs of heap), and 5 KB of gzip to 5 MiB
 * of empty protobuf series (2.6 million objects). So the intake counts what it decodes and
 * stops as soon as a count passes its cap, before the expensive step:
 *
 *  - JSON: a `JsonScanner` sees the bytes as the decompressor produces them (no allocation)
 *    and counts values (`{`, `[` and `,` outside strings) and the bytes of strings, numbers
 *    and literals; past a cap the inflate stops at once, before `JSON.parse` sees anything.
 *    An uncompressed body is scanned the same way in `SCAN_SLICE` slices with a yield
 *    between (`scanJson`), except a small series body (UNSCANNED_JSON_MAX_BYTES). JSON.parse's time grows with those two counts (whitespace is
 *    nearly free), so the caps bound the one blocking call.
 *  - protobuf: `MetricPayloadCounter` counts top-level series while inflating, then
 *    metric-payload-proto.ts counts series, points and tags in an allocation-free pass
 *    before decoding.
 *  - decoded series, points and tags are capped for both formats (series-payload.ts).
 *
 * Over a cap: 413 PAYLOAD_TOO_COMPLEX (the client must send smaller batches, like a 413 for
 * bytes). The defaults leave room for the largest payloads real agents send: the Datadog
 * Agent caps a v1 payload at 4 MiB uncompressed (`serializer_max_uncompressed_payload_size`)
 * and a v2 payload at 10,000 points (`serializer_max_series_points_per_payload`); rekey-agent
 * sends at most 2,000 series per payload.
 */
import { rekeyError } from '../errors.js';
import { QUOTE, BACKSLASH, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, COMMA, COLON, SPACE, TAB, LF, CR } from './json-bytes.js';

export interface PayloadCaps {
  /** Most series in one payload. */
  readonly maxSeries: number;
  /** Most points in one payload, all series together. */
  readonly maxPoints: number;
  /** Most tags in one payload, all series together. */
  readonly maxTags: number;
  /**
   * Most distribution sketches (series × 10 s buckets) in one payload. Each is read, merged and
   * written on the request's turn of the event loop: a hostile try sent 105,000 in one 2 MB
   * payload and held every other request for 4.4 s (2026-11-30); 10,000 bounds that near
   * 0.4 s, and one Agent flush of a host holds one sketch per distribution context, far fewer.
   */
  readonly maxSketches: number;
  /** Most JSON values (objects, arrays and the elements and members they hold) in one body. */
  readonly maxJsonValues: number;
  /** Most bytes of JSON strings, numbers and literals in one body (whitespace not counted). */
  readonly maxJsonTokenBytes: number;
  /** Deepest JSON nesting of objects and arrays. */
  readonly maxJsonDepth: number;
}

export const DEFAULT_PAYLOAD_CAPS: PayloadCaps = {
  maxSeries: 50_000,
  maxPoints: 200_000,
  maxTags: 500_000,
  maxSketches: 10_000,
  maxJsonValues: 500_000,
  maxJsonTokenBytes: 16 * 1024 * 1024,
  maxJsonDepth: 64,
};

/** Bytes scanned between yields to the event loop (~1-2 ms of scanning on a slow core). */
const SCAN_SLICE = 1024 * 1024;

export const tooComplex = (what: string, limit: number) => rekeyError('PAYLOAD_TOO_COMPLEX', { what, limit });

/**
 * Counts a JSON body's values and token bytes as its bytes arrive (`push` per chunk, e.g. as
 * they come out of the decompressor), throwing PAYLOAD_TOO_COMPLEX as soon as a count passes
 * its cap (or INVALID_PAYLOAD past the depth cap). It does not validate the JSON: JSON.parse
 * does, afterwards, on a body known to be cheap to parse. No allocation per byte.
 */
export class JsonScanner {
  private values = 0;
  private tokenBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly caps: PayloadCaps) {}

  push(chunk: Uint8Array): void {
    let { values, tokenBytes, depth, inString, escaped } = this;
    const maxDepth = this.caps.maxJsonDepth;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (inString) {
        tokenBytes++;
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        continue;
      }
      switch (byte) {
        case QUOTE:
          inString = true;
          tokenBytes++;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          values++;
          if (++depth > maxDepth) throw rekeyError('INVALID_PAYLOAD', { detail: `The JSON body nests deeper than ${maxDepth} levels` });
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          depth--;
          break;
        case COMMA:
          values++;
          break;
        case COLON:
        case SPACE:
        case TAB:
        case LF:
        case CR:
          break;
        default:
          tokenBytes++; // numbers, true/false/null (and anything JSON.parse will refuse)
      }
    }
    Object.assign(this, { values, tokenBytes, depth, inString, escaped });
    if (values > this.caps.maxJsonValues) throw tooComplex('JSON values', this.caps.maxJsonValues);
    if (tokenBytes > this.caps.maxJsonTokenBytes) throw tooComplex('bytes of JSON strings and numbers', this.caps.maxJsonTokenBytes);
  }
}

/**
 * A JsonScanner that starts only once the body passes UNSCANNED_JSON_MAX_BYTES (it then scans
 * the chunks it held, and every later one as it comes): a bomb still stops at its first
 * megabytes, and a small body is left for `parseBoundedJson` to scan or not by its route.
 * The chunks held are the decompressor's output, which decompressBody keeps anyway.
 */
export class DeferredJsonScanner {
  private readonly scanner: JsonScanner;
  private held: Uint8Array[] | null = [];
  private heldBytes = 0;

  constructor(caps: PayloadCaps) {
    this.scanner = new JsonScanner(caps);
  }

  push(chunk: Uint8Array): void {
    if (this.held === null) return this.scanner.push(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes <= UNSCANNED_JSON_MAX_BYTES) return;
    const held = this.held;
    this.held = null;
    for (const part of held) this.scanner.push(part);
  }

  /** Whether every byte pushed was scanned (the body then needs no second scan: `markScanned`). */
  get scannedAll(): boolean {
    return this.held === null;
  }
}

/** Scans a whole body with a JsonScanner in slices, yielding to the event loop between them. */
export async function scanJson(body: Uint8Array, caps: PayloadCaps): Promise<void> {
  const scanner = new JsonScanner(caps);
  for (let start = 0; start < body.length; start += SCAN_SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    scanner.push(body.subarray(start, Math.min(start + SCAN_SLICE, body.length)));
  }
}

/**
 * Series bodies up to this size (and no larger than the count caps) are parsed without a scan
 * (`parseBoundedJson`'s `shapeOnly`). Their cost is bounded by their size: no more values or
 * token bytes than bytes, and nesting — which JSON.parse pays for steeply (256 KiB of `[` takes
 * ~145 ms, 100 times a flat body) — costs at most ~4 ms at 64 KiB (65,536 unclosed `[`: 3.7 ms,
 * 32,768 nested pairs: 2.6 ms; a flat 64 KiB series body: 0.6 ms; Node 20, this 2-core machine,
 * 2026-11-30). The costliest 64 KiB shape found by a hostile try is not nesting but objects with
 * never-seen keys (each makes V8 build a new object layout): ~10 ms of the shipped server's CPU
 * per request with or without the scan, which does not bound it, against ~8 ms for a legitimate
 * 64 KiB series body. Scanning every body was 13 % of the shipped server's intake profile for
 * the 12 KB, 100-point payloads agents send (bench/results/profile-shipped-server.json). Bodies
 * whose JSON is kept as it is (host metadata, events) are always scanned: serialising 13,000
 * nested objects overflows the stack.
 */
export const UNSCANNED_JSON_MAX_BYTES = 64 * 1024;

/** Bodies already counted by a JsonScanner while they were decompressed. */
const scannedBodies = new WeakSet<Buffer>();

export function markScanned(body: Buffer): Buffer {
  scannedBodies.add(body);
  return body;
}

export interface BoundedJsonOptions {
  /**
   * The caller reads only known fields at a fixed depth (the series decoders): it never walks,
   * keeps or re-serialises arbitrary JSON, so a small body needs no scan (UNSCANNED_JSON_MAX_BYTES).
   */
  shapeOnly?: boolean;
}

/**
 * `scanJson` unless the body needs none (scanned while inflating, or small and read by shape):
 * the work bound of a JSON body before it is read (JSON.parse, or the relay's json-points.ts).
 */
export async function scanJsonIfNeeded(body: Buffer, caps: PayloadCaps, options: BoundedJsonOptions = {}): Promise<void> {
  // A body no larger than a count cap cannot pass it (each value and token byte is a byte).
  const cheap = options.shapeOnly === true && body.length <= Math.min(UNSCANNED_JSON_MAX_BYTES, caps.maxJsonValues, caps.maxJsonTokenBytes);
  if (!cheap && !scannedBodies.has(body)) await scanJson(body, caps);
}

/** `scanJsonIfNeeded`, then JSON.parse; a syntax error is a 400 that does not quote the body. */
export async function parseBoundedJson(body: Buffer, caps: PayloadCaps, options: BoundedJsonOptions = {}): Promise<unknown> {
  if (body.length === 0) throw rekeyError('INVALID_PAYLOAD', { detail: 'The body is empty; send a JSON payload' });
  await scanJsonIfNeeded(body, caps, options);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    // Not JSON.parse's message: it quotes the body, and a body may hold a key.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw rekeyError('INVALID_PAYLOAD', { detail: `The body is not valid JSON${position === undefined ? '' : ` (error at byte ${position})`}` });
  }
}
