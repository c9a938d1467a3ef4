/**
 * The reference reading of a JSON series or distribution body — JSON.parse, then the fields —
 * as forwarded-usage.ts counted before json-points.ts (and as the intake reads a stored one).
 * Not used by the server: it is the oracle json-points.ts is tested against (fast-check, over
 * generated and adversarial bodies) and the baseline bench/relay-count.ts measures it against.
 */
import { addPoints, type JsonFormat, type PointsPerHost } from './json-points.js';

/** The points per host of `body` read through JSON.parse, or undefined when JSON.parse refuses it. */
export function countParsedJsonPoints(format: JsonFormat, body: Buffer): PointsPerHost | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const counts: PointsPerHost = new Map();
  const series = isObject(payload) ? payload.series : undefined;
  if (!Array.isArray(series)) return counts;
  for (const raw of series as unknown[]) {
    if (!isObject(raw) || !Array.isArray(raw.points)) continue;
    const points = raw.points as unknown[];
    if (format === 'v1') addPoints(counts, raw.host, points.length);
    else if (format === 'v2') addPoints(counts, v2Host(raw.resources), points.length);
    else {
      // [[ts, [values…]], …]: each value is a point, as the intake counts distributions.
      let values = 0;
      for (const point of points) if (Array.isArray(point) && Array.isArray(point[1])) values += (point[1] as unknown[]).length;
      addPoints(counts, raw.host, values);
    }
  }
  return counts;
}

function v2Host(resources: unknown): unknown {
  if (!Array.isArray(resources)) return undefined;
  for (const resource of resources as unknown[]) if (isObject(resource) && resource.type === 'host') return resource.name;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
