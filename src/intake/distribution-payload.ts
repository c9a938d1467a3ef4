/**
 * `POST /api/v1/distribution_points`: Datadog's JSON distributions (the official clients'
 * `submitDistributionPoints`) —
 *
 *   {"series":[{"metric","points":[[ts,[v1,v2,…]]],"host"?,"tags"?,"type"?:"distribution"}]}
 *
 * — turned into what the Agent sends as `/api/beta/sketches`: one DDSketch in the Agent's bins
 * (src/points/agent-sketch.ts) per series and 10 s bucket, so they are stored, merged and
 * queried exactly as DogStatsD distributions are (`p95:metric{…}`, `avg:`, `count:`…).
 *
 * Validation is as `/api/v2/series` (series-payload.ts): Datadog's timestamp window and the
 * same limits on names and tags; an invalid series (a bad point included) is left out and
 * named in `errors`, none valid is a 400. Every raw value counts against the points cap.
 */
import { RekeyError, rekeyError } from '../errors.js';
import { newAgentSketch, toDogsketch } from '../points/agent-sketch.js';
import { DEFAULT_PAYLOAD_CAPS, tooComplex, type PayloadCaps } from './payload-caps.js';
import { MAX_LISTED_ERRORS, SeriesChecker, type TimestampWindow } from './series-payload.js';
import type { IntakeSketch } from './sketch-payload.js';

/** The Agent's sketch bucket: one sketch per series per 10 s, as DogStatsD distributions. */
export const DISTRIBUTION_BUCKET_SECONDS = 10;

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One series' raw values, grouped by 10 s bucket. */
interface RawDistribution {
  metric: string;
  host: string;
  tags: string[];
  buckets: Map<number, number[]>;
}

/**
 * The sketches of a distribution payload: one per series (metric, host, tags) and bucket, the
 * values of the points in that bucket merged into it. Series named twice in one payload are
 * merged too (a sketch per key, as the store keeps).
 */
export function decodeDistributionPoints(
  payload: unknown,
  nowSeconds: number,
  window: TimestampWindow,
  options: { caps?: PayloadCaps; errors?: string[] } = {},
): IntakeSketch[] {
  const caps = options.caps ?? DEFAULT_PAYLOAD_CAPS;
  if (!isObject(payload) || !Array.isArray(payload.series)) throw invalid('The payload must be an object with a "series" array');
  if (payload.series.length === 0) throw invalid('"series" is empty; send at least one series');
  if (payload.series.length > caps.maxSeries) throw tooComplex('series', caps.maxSeries);
  const budget = { values: 0, tags: 0, sketches: 0, caps };
  const check = new SeriesChecker(nowSeconds, window);
  const valid: RawDistribution[] = [];
  const problems: string[] = [];
  let invalidCount = 0;
  payload.series.forEach((raw: unknown, index: number) => {
    try {
      valid.push(decodeOne(raw, `series[${index}]`, check, nowSeconds, window, budget));
    } catch (error) {
      if (!(error instanceof RekeyError) || error.code !== 'INVALID_PAYLOAD' || options.errors === undefined) throw error;
      if (++invalidCount <= MAX_LISTED_ERRORS) problems.push(error.message);
    }
  });
  if (invalidCount > MAX_LISTED_ERRORS) problems.push(`${invalidCount - MAX_LISTED_ERRORS} more series were invalid`);
  if (valid.length === 0) throw invalid(invalidCount === 1 ? problems[0]! : `No series is valid (${invalidCount} invalid): ${problems.slice(0, 3).join('; ')}`);
  options.errors?.push(...problems);
  return toSketches(valid);
}

function decodeOne(
  raw: unknown,
  where: string,
  check: SeriesChecker,
  nowSeconds: number,
  window: TimestampWindow,
  budget: { values: number; tags: number; sketches: number; caps: PayloadCaps },
): RawDistribution {
  if (!isObject(raw)) throw invalid(`${where} must be an object`);
  const metric = check.metric(raw.metric, where);
  if (raw.type !== undefined && raw.type !== null && raw.type !== 'distribution') throw invalid(`${where}.type must be "distribution"`);
  const host = check.host(raw.host, `${where}.host`);
  // Sorted and de-duplicated, as every stored series' tags.
  const tags = check.tags(raw.tags, where);
  budget.tags += tags.length;
  if (budget.tags > budget.caps.maxTags) throw tooComplex('tags', budget.caps.maxTags);
  if (!Array.isArray(raw.points) || raw.points.length === 0) throw invalid(`${where}.points must be a non-empty array`);
  const buckets = new Map<number, number[]>();
  raw.points.forEach((point: unknown, p: number) => {
    const at = `${where}.points[${p}]`;
    if (!Array.isArray(point) || point.length !== 2 || !Array.isArray(point[1])) throw invalid(`${at} must be [timestamp, [values…]]`);
    const [timestamp, values] = point as [unknown, unknown[]];
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw invalid(`${at} timestamp must be a number of seconds since the epoch`);
    const seconds = Math.floor(timestamp);
    if (seconds > nowSeconds + window.futureSeconds) {
      throw invalid(`${at} timestamp ${seconds} is more than ${window.futureSeconds} s in the future; check the sender's clock (timestamps are in seconds)`);
    }
    if (seconds < nowSeconds - window.maxAgeSeconds)
      throw invalid(`${at} timestamp ${seconds} is more than ${window.maxAgeSeconds} s in the past; such points are not accepted`);
    budget.values += values.length;
    if (budget.values > budget.caps.maxPoints) throw tooComplex('distribution values', budget.caps.maxPoints);
    for (const value of values) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${at} values must be finite numbers`);
    }
    const bucket = seconds - (seconds % DISTRIBUTION_BUCKET_SECONDS);
    const into = buckets.get(bucket);
    if (into === undefined) buckets.set(bucket, [...(values as number[])]);
    else for (const value of values as number[]) into.push(value);
  });
  // Counted per series' buckets: payloads that name one series and bucket twice merge later.
  budget.sketches += buckets.size;
  if (budget.sketches > budget.caps.maxSketches) throw tooComplex('sketches (series × 10 s buckets)', budget.caps.maxSketches);
  return { metric, host, tags, buckets };
}

function toSketches(series: readonly RawDistribution[]): IntakeSketch[] {
  const byKey = new Map<string, { s: RawDistribution; ts: number; values: number[] }>();
  for (const s of series) {
    for (const [ts, values] of s.buckets) {
      const key = `${s.metric}\u0000${s.host}\u0000${s.tags.join(',')}\u0000${ts}`;
      const seen = byKey.get(key);
      if (seen === undefined) byKey.set(key, { s, ts, values });
      else for (const value of values) seen.values.push(value);
    }
  }
  const out: IntakeSketch[] = [];
  for (const { s, ts, values } of byKey.values()) {
    // A point with no values adds nothing (Datadog accepts it; an empty sketch is not stored).
    if (values.length === 0) continue;
    const sketch = newAgentSketch();
    for (const value of values) sketch.accept(value);
    out.push({ metric: s.metric, host: s.host, tags: s.tags, sketch: toDogsketch(sketch, ts) });
  }
  return out;
}
