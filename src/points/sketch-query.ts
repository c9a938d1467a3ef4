/**
 * Queries of distributions (`GET /api/v1/query` on a metric sent as DogStatsD `d`, stored as
 * sketches by sketch-store.ts), as Datadog answers them:
 *
 *   avg|sum|min|max|count|p50|p75|p90|p95|p99:metric{tag:value,…} by {tag,…}
 *
 * For each 10 s bucket, the sketches of every series in a group are merged (DDSketch merges
 * without losing its guarantee) and the aggregator read from the merge: `count`, `sum`, `min`,
 * `max` and `avg` from the exact summaries, `pNN` from the sketch — within 1 % of the true
 * percentile (agent-sketch.ts). The query route asks here first (answerSketchQuery) and falls
 * back to points when the query is not about a distribution.
 */
import type { DDSketch } from '@datadog/sketches-js';
import { mergeDogsketch, newAgentSketch } from './agent-sketch.js';
import type { QuerySeries } from './metric-query.js';
import type { SketchStore, StoredSketch } from './sketch-store.js';

export type SketchAggregator = 'avg' | 'sum' | 'min' | 'max' | 'count' | 'p50' | 'p75' | 'p90' | 'p95' | 'p99';

export interface SketchQuery {
  aggregator: SketchAggregator;
  metric: string;
  scope: string[];
  groupBy: string[];
}

const QUERY = /^\s*(avg|sum|min|max|count|p50|p75|p90|p95|p99):([A-Za-z][\w.\-]*)\s*(?:\{([^{}]*)\})?\s*(?:by\s*\{([^{}]*)\})?\s*$/;
const PERCENTILES: Record<string, number> = { p50: 0.5, p75: 0.75, p90: 0.9, p95: 0.95, p99: 0.99 };

/** The query, when it has the shape a distribution query takes; null otherwise. */
export function parseSketchQuery(text: string): SketchQuery | null {
  const match = QUERY.exec(text);
  if (!match) return null;
  const list = (raw: string | undefined) =>
    (raw ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '' && item !== '*');
  return { aggregator: match[1] as SketchAggregator, metric: match[2]!, scope: list(match[3]), groupBy: list(match[4]) };
}

/** Datadog's `MetricsQueryMetadata`, the points' answer's shape with a sketch aggregator. */
export type SketchQuerySeries = Omit<QuerySeries, 'aggr'> & { aggr: SketchAggregator };

interface Bucket {
  sketch: DDSketch;
  count: number;
  sum: number;
}

/**
 * The answer's `series` when `text` is a distribution query of a metric that has sketches in
 * the org; null when it is not (the caller then answers from points). A percentile of a
 * metric without sketches is an empty answer, as on Datadog.
 */
export async function answerSketchQuery(store: SketchStore, orgId: string, text: string, from: number, to: number): Promise<SketchQuerySeries[] | null> {
  const query = parseSketchQuery(text);
  if (query === null) return null;
  const isPercentile = query.aggregator in PERCENTILES;
  if (!isPercentile && !(await store.has(orgId, query.metric))) return null;
  return evaluateSketchQuery(query, await store.query(orgId, query.metric, from, to));
}

export function evaluateSketchQuery(query: SketchQuery, sketches: readonly StoredSketch[]): SketchQuerySeries[] {
  const groups = new Map<string, { tagSet: string[]; byTs: Map<number, Bucket> }>();
  for (const stored of sketches) {
    const tags = new Set(stored.tags);
    if (stored.host !== '') tags.add(`host:${stored.host}`);
    if (!query.scope.every((required) => tags.has(required))) continue;
    const tagSet = query.groupBy.map((key) => [...tags].find((tag) => tag.startsWith(`${key}:`)) ?? `${key}:N/A`);
    const groupKey = tagSet.join(',');
    let group = groups.get(groupKey);
    if (!group) groups.set(groupKey, (group = { tagSet, byTs: new Map() }));
    let bucket = group.byTs.get(stored.ts);
    if (!bucket) group.byTs.set(stored.ts, (bucket = { sketch: newAgentSketch(), count: 0, sum: 0 }));
    mergeDogsketch(bucket.sketch, stored.sketch);
    bucket.count += stored.sketch.cnt;
    bucket.sum += stored.sketch.sum;
  }
  const series: SketchQuerySeries[] = [];
  for (const group of [...groups.values()].sort((a, b) => (a.tagSet.join(',') < b.tagSet.join(',') ? -1 : 1))) {
    const pointlist = [...group.byTs.entries()].sort(([a], [b]) => a - b).map(([ts, bucket]): [number, number] => [ts * 1000, read(query.aggregator, bucket)]);
    const scope = [...query.scope, ...group.tagSet].join(',') || '*';
    series.push({
      metric: query.metric,
      display_name: query.metric,
      expression: `${query.aggregator}:${query.metric}{${scope}}`,
      scope,
      tag_set: group.tagSet,
      pointlist,
      start: pointlist[0]?.[0] ?? 0,
      end: pointlist[pointlist.length - 1]?.[0] ?? 0,
      interval: 10,
      length: pointlist.length,
      aggr: query.aggregator,
      query_index: 0,
      unit: null,
    });
  }
  return series;
}

function read(aggregator: SketchAggregator, bucket: Bucket): number {
  switch (aggregator) {
    case 'count':
      return bucket.count;
    case 'sum':
      return bucket.sum;
    case 'avg':
      return bucket.count > 0 ? bucket.sum / bucket.count : 0;
    case 'min':
      return bucket.sketch.min;
    case 'max':
      return bucket.sketch.max;
    default:
      return bucket.sketch.getValueAtQuantile(PERCENTILES[aggregator]!);
  }
}
