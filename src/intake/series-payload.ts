/**
 * Decodes and validates the three series formats into one shape: Datadog v1 JSON
 * (`POST /api/v1/series`), v2 JSON and the Agent 7 protobuf `MetricPayload`
 * (`POST /api/v2/series`). Anything wrong is INVALID_PAYLOAD (400) naming the problem and
 * where it is (`series[3].points[0]`), never a crash.
 *
 * Timestamp window, Datadog's (issue 17): a point may be at most 10 minutes in the future and
 * at most 1 hour old; outside it, that series is refused and named in `errors`. An operator
 * whose agents may replay an outage longer than an hour (rekey-agent keeps payloads on disk
 * while its key is refused) widens the past with REKEY_INTAKE_MAX_POINT_AGE_SECONDS, up to
 * the retention (intake-env.ts).
 *
 * One bad series does not cost the others (issue 14): with `errors` given, a series that
 * fails validation (a bad point included) is left out and its problem appended to `errors`;
 * the valid ones are returned. If none is valid, the payload is refused (400) with the first
 * problems. Without `errors`, the first problem refuses the payload. The payload's shape
 * (not an object, no `series` array) and the work caps (payload-caps.ts: 413) always refuse
 * the whole payload.
 */
import { RekeyError, rekeyError } from '../errors.js';
import { DEFAULT_PAYLOAD_CAPS, tooComplex, type PayloadCaps } from './payload-caps.js';
import { MAX_HOST_NAME, MAX_METRIC_NAME, MAX_TAG_LENGTH, MAX_TAGS } from './series-limits.js';

export type MetricKind = 'gauge' | 'count' | 'rate';

/** One series as stored: canonical tags, timestamps in whole seconds. */
export interface IntakeSeries {
  metric: string;
  type: MetricKind;
  /** Seconds, for count and rate; null when not given. */
  interval: number | null;
  /** '' when the payload names no host. */
  host: string;
  /** Sorted, de-duplicated; may be shared between series (protobuf: proto-series.ts), never changed. */
  tags: readonly string[];
  unit: string | null;
  /** Packed [timestamp seconds, value] pairs (ts, value, ts, value, …), values finite: no array per point. */
  points: Float64Array;
}

export interface TimestampWindow {
  /** Newest accepted timestamp = now + futureSeconds. */
  futureSeconds: number;
  /** Oldest accepted timestamp = now - maxAgeSeconds. */
  maxAgeSeconds: number;
}

export const DEFAULT_TIMESTAMP_WINDOW: TimestampWindow = { futureSeconds: 10 * 60, maxAgeSeconds: 3600 };

export const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses JSON, turning a syntax error into a 400 that says so. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw invalid('The body is empty; send a JSON payload');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    // Not JSON.parse's message: it quotes the body, and a body may hold a key.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw invalid(`The body is not valid JSON${position === undefined ? '' : ` (error at byte ${position})`}`);
  }
}

/** Checks of a series' metric name, host and tags, shared by every payload that names series (series, distribution points). */
export class SeriesChecker {
  constructor(
    private readonly nowSeconds: number,
    private readonly window: TimestampWindow,
  ) {}

  metric(value: unknown, where: string): string {
    if (typeof value !== 'string' || value.length === 0) throw invalid(`${where}.metric must be a non-empty string`);
    if (value.length > MAX_METRIC_NAME) throw invalid(`${where}.metric is longer than ${MAX_METRIC_NAME} characters`);
    return value;
  }

  tags(value: unknown, where: string): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw invalid(`${where}.tags must be an array of strings`);
    if (value.length > MAX_TAGS) throw invalid(`${where}.tags has more than ${MAX_TAGS} tags`);
    for (const tag of value) {
      if (typeof tag !== 'string') throw invalid(`${where}.tags must be an array of strings`);
      if (tag.length > MAX_TAG_LENGTH) throw invalid(`${where}.tags has a tag longer than ${MAX_TAG_LENGTH} characters`);
    }
    // Agents send tags sorted and unique already: then the array is kept as it is (this runs
    // for every series); otherwise sorted and de-duplicated.
    let canonical = true;
    for (let i = 1; i < value.length && canonical; i++) canonical = (value[i - 1] as string) < (value[i] as string);
    return canonical ? (value as string[]) : [...new Set(value as string[])].sort();
  }

  host(value: unknown, where: string): string {
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw invalid(`${where} must be a string`);
    if (value.length > MAX_HOST_NAME) throw invalid(`${where} is longer than ${MAX_HOST_NAME} characters`);
    return value;
  }

  interval(value: unknown, where: string): number | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(`${where}.interval must be a non-negative integer (seconds)`);
    }
    return value === 0 ? null : value;
  }

  /** Checks point `index` of a series and stores it in `out`; `where` names the series, for errors. */
  point(timestamp: unknown, value: unknown, where: string, index: number, out: Float64Array): void {
    // The location string is built only for an error (no closure either): this runs for every point.
    const at = pointLocation;
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      throw invalid(`${at(where, index)} timestamp must be a number of seconds since the epoch`);
    }
    if (typeof value !== 'number') throw invalid(`${at(where, index)} value must be a number`);
    if (!Number.isFinite(value)) throw invalid(`${at(where, index)} value must be finite (not NaN or Infinity)`);
    const seconds = Math.floor(timestamp);
    if (seconds > this.nowSeconds + this.window.futureSeconds) {
      throw invalid(
        `${at(where, index)} timestamp ${seconds} is more than ${this.window.futureSeconds} s in the future; check the sender's clock (timestamps are in seconds)`,
      );
    }
    if (seconds < this.nowSeconds - this.window.maxAgeSeconds) {
      throw invalid(`${at(where, index)} timestamp ${seconds} is more than ${this.window.maxAgeSeconds} s in the past; such points are not accepted`);
    }
    out[index * 2] = seconds;
    out[index * 2 + 1] = value;
  }
}

function pointLocation(where: string, index: number): string {
  return `${where}.points[${index}]`;
}

function seriesArray(payload: unknown, caps: PayloadCaps): unknown[] {
  if (!isObject(payload) || !Array.isArray(payload.series)) {
    throw invalid('The payload must be an object with a "series" array');
  }
  if (payload.series.length === 0) throw invalid('"series" is empty; send at least one series');
  if (payload.series.length > caps.maxSeries) throw tooComplex('series', caps.maxSeries);
  return payload.series;
}

export interface DecodeOptions {
  /** Work caps (default DEFAULT_PAYLOAD_CAPS). */
  caps?: PayloadCaps;
  /** Collect per-series problems here and keep the valid series (see the file comment). */
  errors?: string[];
}

/** Per-series problems listed in a response at most; the rest are summed up in one more line. */
export const MAX_LISTED_ERRORS = 100;

/**
 * Decodes each series with `decodeOne`; with `options.errors`, an invalid series is left out
 * and its problem listed, and only "nothing valid" refuses the payload.
 */
export function eachSeries(series: readonly unknown[], options: DecodeOptions, decodeOne: (raw: unknown, index: number) => IntakeSeries): IntakeSeries[] {
  const errors = options.errors;
  if (errors === undefined) return series.map(decodeOne);
  const valid: IntakeSeries[] = [];
  let invalidCount = 0;
  for (let index = 0; index < series.length; index++) {
    try {
      valid.push(decodeOne(series[index], index));
    } catch (error) {
      if (!(error instanceof RekeyError) || error.code !== 'INVALID_PAYLOAD') throw error;
      if (++invalidCount <= MAX_LISTED_ERRORS) errors.push(error.message);
    }
  }
  if (invalidCount > MAX_LISTED_ERRORS) errors.push(`${invalidCount - MAX_LISTED_ERRORS} more series were invalid`);
  if (valid.length === 0) {
    throw invalid(invalidCount === 1 ? errors[0]! : `No series is valid (${invalidCount} invalid): ${errors.slice(0, 3).join('; ')}`);
  }
  return valid;
}

/** `{"series":[{"metric","points":[[ts,value]],"type","interval","host","tags"}]}` */
export function decodeV1Series(payload: unknown, nowSeconds: number, window: TimestampWindow, options: DecodeOptions = {}): IntakeSeries[] {
  const caps = options.caps ?? DEFAULT_PAYLOAD_CAPS;
  const check = new SeriesChecker(nowSeconds, window);
  const series = seriesArray(payload, caps);
  const arena = PointArena.of(series, caps);
  return eachSeries(series, options, (raw, index) => {
    const where = `series[${index}]`;
    if (!isObject(raw)) throw invalid(`${where} must be an object`);
    const metric = check.metric(raw.metric, where);
    const type = raw.type ?? 'gauge';
    if (type !== 'gauge' && type !== 'count' && type !== 'rate') {
      throw invalid(`${where}.type must be "gauge", "count" or "rate"`);
    }
    if (!Array.isArray(raw.points) || raw.points.length === 0) throw invalid(`${where}.points must be a non-empty array`);
    const points = arena.take(raw.points.length);
    for (let p = 0; p < raw.points.length; p++) {
      const point: unknown = raw.points[p];
      if (!Array.isArray(point) || point.length !== 2) throw invalid(`${where}.points[${p}] must be [timestamp, value]`);
      check.point(point[0], point[1], where, p, points);
    }
    return {
      metric,
      type,
      interval: check.interval(raw.interval, where),
      host: check.host(raw.host, `${where}.host`),
      tags: check.tags(raw.tags, where),
      unit: null,
      points,
    };
  });
}

export const V2_TYPES: Record<number, MetricKind> = { 0: 'gauge', 1: 'count', 2: 'rate', 3: 'gauge' };

export function v2Series(
  raw: unknown,
  index: number,
  check: SeriesChecker,
  pointsOf: (raw: Record<string, unknown>, where: string) => Float64Array,
): IntakeSeries {
  const where = `series[${index}]`;
  if (!isObject(raw)) throw invalid(`${where} must be an object`);
  const typeCode = raw.type ?? 0;
  const type = typeof typeCode === 'number' ? V2_TYPES[typeCode] : undefined;
  if (type === undefined) throw invalid(`${where}.type must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)`);
  let host = '';
  if (raw.resources !== undefined && raw.resources !== null) {
    if (!Array.isArray(raw.resources)) throw invalid(`${where}.resources must be an array`);
    raw.resources.forEach((resource, r) => {
      if (!isObject(resource)) throw invalid(`${where}.resources[${r}] must be an object`);
      if (resource.type === 'host') host = check.host(resource.name, `${where}.resources[${r}].name`);
    });
  }
  if (raw.unit !== undefined && raw.unit !== null && typeof raw.unit !== 'string') throw invalid(`${where}.unit must be a string`);
  return {
    metric: check.metric(raw.metric, where),
    type,
    interval: check.interval(raw.interval, where),
    host,
    tags: check.tags(raw.tags, where),
    unit: typeof raw.unit === 'string' && raw.unit !== '' ? raw.unit : null,
    points: pointsOf(raw, where),
  };
}

/**
 * One Float64Array for all of a payload's points, handed out a series at a time: one
 * allocation per request instead of one per series. Counting them first is also where the
 * payload's points and tags are checked against the caps, before any is validated.
 */
export class PointArena {
  readonly values: Float64Array;
  /** Values (two per point) handed out so far. */
  used = 0;

  constructor(points: number) {
    this.values = new Float64Array(points * 2);
  }

  /** An arena for a JSON payload's series; throws PAYLOAD_TOO_COMPLEX over the points or tags cap. */
  static of(series: readonly unknown[], caps: PayloadCaps): PointArena {
    let count = 0;
    let tags = 0;
    for (const raw of series) {
      if (!isObject(raw)) continue;
      if (Array.isArray(raw.points)) count += raw.points.length;
      if (Array.isArray(raw.tags)) tags += raw.tags.length;
    }
    if (count > caps.maxPoints) throw tooComplex('points', caps.maxPoints);
    if (tags > caps.maxTags) throw tooComplex('tags', caps.maxTags);
    return new PointArena(count);
  }

  take(points: number): Float64Array {
    const taken = this.values.subarray(this.used, this.used + points * 2);
    this.used += points * 2;
    return taken;
  }
}

/** `{"series":[{"metric","type":0-3,"points":[{"timestamp","value"}],"resources":[{"name","type"}],"tags","interval","unit"}]}` */
export function decodeV2Series(payload: unknown, nowSeconds: number, window: TimestampWindow, options: DecodeOptions = {}): IntakeSeries[] {
  const caps = options.caps ?? DEFAULT_PAYLOAD_CAPS;
  const check = new SeriesChecker(nowSeconds, window);
  const series = seriesArray(payload, caps);
  const arena = PointArena.of(series, caps);
  const pointsOf = v2Points(check, arena);
  return eachSeries(series, options, (raw, index) => v2Series(raw, index, check, pointsOf));
}

/** Checks a v2 series' `points` ([{timestamp, value}]) into packed space taken from `arena`. */
export function v2Points(check: SeriesChecker, arena: PointArena): (series: Record<string, unknown>, where: string) => Float64Array {
  return (series, where) => {
    if (!Array.isArray(series.points) || series.points.length === 0) throw invalid(`${where}.points must be a non-empty array`);
    const points = arena.take(series.points.length);
    for (let p = 0; p < series.points.length; p++) {
      const point: unknown = series.points[p];
      if (!isObject(point)) throw invalid(`${where}.points[${p}] must be {"timestamp", "value"}`);
      check.point(point.timestamp, point.value, where, p, points);
    }
    return points;
  };
}

/** Points in a decoded payload, per host: for the key's usage record. */
export function pointsPerHost(series: readonly IntakeSeries[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of series) counts.set(s.host, (counts.get(s.host) ?? 0) + s.points.length / 2);
  return counts;
}
