/**
 * Cuts one flush's series into `/api/v1/series` payloads the intake accepts whole.
 *
 * A count of series alone (2,000) did not bound a payload: 2,000 DogStatsD contexts with 300
 * tags each made one payload of 600,000 JSON values, which the intake refuses (413 "send
 * smaller batches", payload-caps.ts), and a refused payload can only be deleted — with every
 * valid series in it. So a payload is also cut before it passes half of each of the intake's
 * work caps (JSON values, tags, points) and 90% of its wire limit counted on the JSON before
 * compression (so even tags deflate cannot shrink fit). A single series is never split.
 *
 * @example
 *   for (const json of seriesPayloads(series)) await queue.enqueue(meta, deflateSync(json), ids);
 */
import { V1_LIMITS } from '../intake/intake-limits.js';
import { DEFAULT_PAYLOAD_CAPS } from '../intake/payload-caps.js';
import type { Series } from './series.js';

export interface PayloadBudget {
  series: number;
  /** Bytes of JSON (UTF-8). */
  bytes: number;
  /** JSON values as the intake counts them (`{`, `[` and `,`), estimated from above. */
  values: number;
  tags: number;
  points: number;
}

export const DEFAULT_PAYLOAD_BUDGET: PayloadBudget = {
  series: 2000,
  bytes: Math.floor(V1_LIMITS.wireBytes * 0.9),
  values: DEFAULT_PAYLOAD_CAPS.maxJsonValues / 2,
  tags: DEFAULT_PAYLOAD_CAPS.maxTags / 2,
  points: DEFAULT_PAYLOAD_CAPS.maxPoints / 2,
};

/** The series as `{"series":[…]}` JSON texts, in order, each within `budget`. */
export function seriesPayloads(series: readonly Series[], budget: PayloadBudget = DEFAULT_PAYLOAD_BUDGET): string[] {
  const out: string[] = [];
  let parts: string[] = [];
  let bytes = 0;
  let values = 0;
  let tags = 0;
  let points = 0;
  const cut = () => {
    if (parts.length > 0) out.push(`{"series":[${parts.join(',')}]}`);
    parts = [];
    bytes = values = tags = points = 0;
  };
  for (const s of series) {
    const json = JSON.stringify(s);
    const b = Buffer.byteLength(json) + 1;
    // `{`, the commas between its members, `[` per array, `[` and `,` per point and a comma between points, a comma between tags.
    const v = 16 + 3 * s.points.length + s.tags.length;
    if (
      parts.length > 0 &&
      (parts.length >= budget.series ||
        bytes + b > budget.bytes ||
        values + v > budget.values ||
        tags + s.tags.length > budget.tags ||
        points + s.points.length > budget.points)
    ) {
      cut();
    }
    parts.push(json);
    bytes += b;
    values += v;
    tags += s.tags.length;
    points += s.points.length;
  }
  cut();
  return out;
}
