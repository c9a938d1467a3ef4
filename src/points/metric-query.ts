/**
 * The subset of Datadog's metric query language that `GET /api/v1/query` understands:
 *
 *   avg|sum|min|max:metric.name{tag:value,tag2,…} by {tag,…}
 *
 * `{*}` or no braces means every series; `host:NAME` matches the series' host. Each group
 * (one per distinct value of the `by` tags, `tag:N/A` when a series lacks one) becomes one
 * series in the answer, its points aggregated across the group's series per timestamp —
 * Datadog's space aggregation. No time rollup: points come back at their own timestamps, so
 * what was submitted reads back exactly.
 */
import { rekeyError } from '../errors.js';
import type { StoredPoint } from './point-store.js';

export type Aggregator = 'avg' | 'sum' | 'min' | 'max';

export interface MetricQuery {
  aggregator: Aggregator;
  metric: string;
  /** Required tags (`key:value` or bare `tag`); empty = all. */
  scope: string[];
  groupBy: string[];
}

const QUERY = /^\s*(?:(avg|sum|min|max):)?([A-Za-z][\w.\-]*)\s*(?:\{([^{}]*)\})?\s*(?:by\s*\{([^{}]*)\})?\s*$/;

export function parseMetricQuery(text: string): MetricQuery {
  const match = QUERY.exec(text);
  if (!match) {
    throw rekeyError('INVALID_QUERY', {
      detail: `Cannot parse the query "${text.slice(0, 200)}"; use avg|sum|min|max:metric{tag:value,…} by {tag}`,
    });
  }
  const list = (raw: string | undefined) =>
    (raw ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '' && item !== '*');
  return {
    aggregator: (match[1] as Aggregator | undefined) ?? 'avg',
    metric: match[2]!,
    scope: list(match[3]),
    groupBy: list(match[4]),
  };
}

/** Datadog's `MetricsQueryMetadata` (the parts the client reads). */
export interface QuerySeries {
  metric: string;
  display_name: string;
  expression: string;
  scope: string;
  tag_set: string[];
  pointlist: Array<[number, number]>;
  start: number;
  end: number;
  interval: number;
  length: number;
  aggr: Aggregator;
  query_index: number;
  unit: null;
}

function tagSetOf(point: StoredPoint): Set<string> {
  const set = new Set(point.tags);
  if (point.host !== '') set.add(`host:${point.host}`);
  return set;
}

function groupValue(tags: Set<string>, key: string): string {
  for (const tag of tags) if (tag.startsWith(`${key}:`)) return tag;
  return `${key}:N/A`;
}

const AGGREGATE: Record<Aggregator, (values: number[]) => number> = {
  avg: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  sum: (v) => v.reduce((a, b) => a + b, 0),
  min: (v) => v.reduce((a, b) => Math.min(a, b)),
  max: (v) => v.reduce((a, b) => Math.max(a, b)),
};

/** Filters, groups and aggregates the points of `query.metric` (already read from the store). */
export function evaluateMetricQuery(query: MetricQuery, points: readonly StoredPoint[]): QuerySeries[] {
  const groups = new Map<string, { tagSet: string[]; byTs: Map<number, number[]> }>();
  for (const point of points) {
    const tags = tagSetOf(point);
    if (!query.scope.every((required) => tags.has(required))) continue;
    const tagSet = query.groupBy.map((key) => groupValue(tags, key));
    const groupKey = tagSet.join(',');
    let group = groups.get(groupKey);
    if (!group) groups.set(groupKey, (group = { tagSet, byTs: new Map() }));
    const values = group.byTs.get(point.ts);
    if (values) values.push(point.value);
    else group.byTs.set(point.ts, [point.value]);
  }
  const series: QuerySeries[] = [];
  for (const group of [...groups.values()].sort((a, b) => (a.tagSet.join(',') < b.tagSet.join(',') ? -1 : 1))) {
    const pointlist = [...group.byTs.entries()]
      .sort(([a], [b]) => a - b)
      .map(([ts, values]): [number, number] => [ts * 1000, AGGREGATE[query.aggregator](values)]);
    const scope = [...query.scope, ...group.tagSet].join(',') || '*';
    const times = pointlist.map(([ms]) => ms);
    // The smallest gap between points, as Datadog's `interval` (seconds); a loop, not
    // Math.min(...gaps), which overflows the stack on long series.
    let smallestGap = Infinity;
    for (let i = 1; i < times.length; i++) smallestGap = Math.min(smallestGap, times[i]! - times[i - 1]!);
    series.push({
      metric: query.metric,
      display_name: query.metric,
      expression: `${query.aggregator}:${query.metric}{${scope}}`,
      scope,
      tag_set: group.tagSet,
      pointlist,
      start: times[0] ?? 0,
      end: times[times.length - 1] ?? 0,
      interval: Number.isFinite(smallestGap) ? Math.max(1, Math.round(smallestGap / 1000)) : 1,
      length: pointlist.length,
      aggr: query.aggregator,
      query_index: 0,
      unit: null,
    });
  }
  return series;
}
