/**
 * Decodes and validates the three series formats into one shape: Datadog v1 JSON
 * (`POST /api/v1/series`), v2 JSON and the Agent 7 protobuf `MetricPayload`
 * (`POST /api/v2/series`). Anything wrong is INVALID_PAYLOAD (400) naming the problem and
 * where it is (`series[3].points[0]`), never a crash.
 *
 * Timestamp window (documented choice): a point may be at most 10 minutes in the future
 * (Datadog's documented tolerance for clock skew) and at most `maxAgeSeconds` old — by default
 * the retention (7 days), wider than Datadog's 1 hour because rekey-agent replays payloads
 * held on disk while its key was revoked (PRODUCT.md §5: a rotation loses zero points), and a
 * point older than the retention would be deleted at once anyway. A payload with any point
 * outside the window is refused whole, so a client learns of its clock problem.
 */
import { rekeyError } from '../errors.js';
import { decodeMetricPayload } from './metric-payload-proto.js';

export type MetricKind = 'gauge' | 'count' | 'rate';

/** One series as stored: canonical tags, timestamps in whole seconds. */
export interface IntakeSeries {
  metric: string;
  type: MetricKind;
  /** Seconds, for count and rate; null when not given. */
  interval: number | null;
  /** '' when the payload names no host. */
  host: string;
  /** Sorted, de-duplicated. */
  tags: string[];
  unit: string | null;
  /** [timestamp seconds, value], value finite. */
  points: Array<[number, number]>;
}

export interface TimestampWindow {
  /** Newest accepted timestamp = now + futureSeconds. */
  futureSeconds: number;
  /** Oldest accepted timestamp = now - maxAgeSeconds. */
  maxAgeSeconds: number;
}

export const DEFAULT_TIMESTAMP_WINDOW: TimestampWindow = { futureSeconds: 10 * 60, maxAgeSeconds: 7 * 24 * 3600 };

const MAX_METRIC_NAME = 200;
const MAX_TAG_LENGTH = 200;
const MAX_TAGS = 1000;

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

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

class SeriesChecker {
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
    return [...new Set(value as string[])].sort();
  }

  host(value: unknown, where: string): string {
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw invalid(`${where} must be a string`);
    if (value.length > 255) throw invalid(`${where} is longer than 255 characters`);
    return value;
  }

  interval(value: unknown, where: string): number | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(`${where}.interval must be a non-negative integer (seconds)`);
    }
    return value === 0 ? null : value;
  }

  point(timestamp: unknown, value: unknown, where: string): [number, number] {
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      throw invalid(`${where} timestamp must be a number of seconds since the epoch`);
    }
    if (typeof value !== 'number') throw invalid(`${where} value must be a number`);
    if (!Number.isFinite(value)) throw invalid(`${where} value must be finite (not NaN or Infinity)`);
    const seconds = Math.floor(timestamp);
    if (seconds > this.nowSeconds + this.window.futureSeconds) {
      throw invalid(`${where} timestamp ${seconds} is more than ${this.window.futureSeconds} s in the future; check the sender's clock (timestamps are in seconds)`);
    }
    if (seconds < this.nowSeconds - this.window.maxAgeSeconds) {
      throw invalid(`${where} timestamp ${seconds} is more than ${this.window.maxAgeSeconds} s in the past; such points are not accepted`);
    }
    return [seconds, value];
  }
}

function seriesArray(payload: unknown): unknown[] {
  if (!isObject(payload) || !Array.isArray(payload.series)) {
    throw invalid('The payload must be an object with a "series" array');
  }
  if (payload.series.length === 0) throw invalid('"series" is empty; send at least one series');
  return payload.series;
}

/** `{"series":[{"metric","points":[[ts,value]],"type","interval","host","tags"}]}` */
export function decodeV1Series(payload: unknown, nowSeconds: number, window: TimestampWindow): IntakeSeries[] {
  const check = new SeriesChecker(nowSeconds, window);
  return seriesArray(payload).map((raw, index) => {
    const where = `series[${index}]`;
    if (!isObject(raw)) throw invalid(`${where} must be an object`);
    const metric = check.metric(raw.metric, where);
    const type = raw.type ?? 'gauge';
    if (type !== 'gauge' && type !== 'count' && type !== 'rate') {
      throw invalid(`${where}.type must be "gauge", "count" or "rate"`);
    }
    if (!Array.isArray(raw.points) || raw.points.length === 0) throw invalid(`${where}.points must be a non-empty array`);
    const points = raw.points.map((point, p) => {
      if (!Array.isArray(point) || point.length !== 2) throw invalid(`${where}.points[${p}] must be [timestamp, value]`);
      return check.point(point[0], point[1], `${where}.points[${p}]`);
    });
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

const V2_TYPES: Record<number, MetricKind> = { 0: 'gauge', 1: 'count', 2: 'rate', 3: 'gauge' };

function v2Series(
  raw: unknown,
  index: number,
  check: SeriesChecker,
  pointsOf: (raw: Record<string, unknown>, where: string) => Array<[number, number]>,
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

/** `{"series":[{"metric","type":0-3,"points":[{"timestamp","value"}],"resources":[{"name","type"}],"tags","interval","unit"}]}` */
export function decodeV2Series(payload: unknown, nowSeconds: number, window: TimestampWindow): IntakeSeries[] {
  const check = new SeriesChecker(nowSeconds, window);
  return seriesArray(payload).map((raw, index) =>
    v2Series(raw, index, check, (series, where) => {
      if (!Array.isArray(series.points) || series.points.length === 0) throw invalid(`${where}.points must be a non-empty array`);
      return series.points.map((point, p) => {
        if (!isObject(point)) throw invalid(`${where}.points[${p}] must be {"timestamp", "value"}`);
        return check.point(point.timestamp, point.value, `${where}.points[${p}]`);
      });
    }),
  );
}

/** The Agent 7 protobuf MetricPayload (Content-Type: application/x-protobuf). */
export function decodeProtoSeries(body: Buffer, nowSeconds: number, window: TimestampWindow): IntakeSeries[] {
  let payload: { series: unknown[] };
  try {
    payload = decodeMetricPayload(body);
  } catch (error) {
    throw invalid(`The body is not a valid protobuf MetricPayload: ${(error as Error).message.slice(0, 200)}`);
  }
  return decodeV2Series(payload, nowSeconds, window);
}

/** Points in a decoded payload, per host: for the key's usage record. */
export function pointsPerHost(series: readonly IntakeSeries[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of series) counts.set(s.host, (counts.get(s.host) ?? 0) + s.points.length);
  return counts;
}
