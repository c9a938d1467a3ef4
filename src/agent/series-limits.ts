/**
 * The intake's per-series limits, enforced by the agent before a payload is queued, so one
 * bad series never costs a whole payload: the intake refuses a payload with any invalid
 * series (400), and a refused payload can only be deleted.
 *
 * Only the offending part goes, and each fix is counted (`rekey-agent status`):
 * - a metric name that is empty or longer than MAX_METRIC_NAME: that series is dropped
 *   (a truncated name would be another metric);
 * - a tag longer than MAX_TAG_LENGTH: truncated to it, as Datadog does;
 * - more than MAX_TAGS tags (after de-duplication): the first MAX_TAGS in sorted order are
 *   kept, the rest dropped;
 * - a host longer than MAX_HOST_NAME: truncated;
 * - a point whose value is not a finite number: that point is dropped (and its series
 *   when none is left).
 * - a tag repeated on one series (`#a,a`, or a config `tags:` entry the client also sends):
 *   kept once, as the intake does (not counted: nothing is lost).
 * Two series that become one after a truncation or de-duplication (same metric, host, type and tags) are
 * merged before sending, counts summed and gauges last-wins, because the intake keeps only
 * the newest write of a point and would otherwise keep one of the two counts.
 *
 * @example
 *   const limits = new SeriesLimits();
 *   const safe = limits.apply(series); // what the intake accepts
 *   limits.counters.tagsTruncated;     // 1
 */
import { MAX_HOST_NAME, MAX_METRIC_NAME, MAX_TAG_LENGTH, MAX_TAGS } from '../intake/series-limits.js';
import type { Series } from './series.js';

export interface SeriesLimitCounters {
  seriesDropped: number;
  pointsDropped: number;
  tagsTruncated: number;
  tagsDropped: number;
  hostsTruncated: number;
  /** What the last fix was, e.g. "tag longer than 200 characters truncated on my.metric". */
  lastFix: string | null;
}

export class SeriesLimits {
  readonly counters: SeriesLimitCounters = { seriesDropped: 0, pointsDropped: 0, tagsTruncated: 0, tagsDropped: 0, hostsTruncated: 0, lastFix: null };

  /** Returns the series the intake accepts; `series` itself is not modified. */
  apply(series: Series[]): Series[] {
    let changed = false;
    const out: Series[] = [];
    for (const s of series) {
      const fixed = this.fix(s);
      if (fixed !== s) changed = true;
      if (fixed !== null) out.push(fixed);
    }
    return changed ? mergeSameContext(out) : out;
  }

  /** The series unchanged, a fixed copy, or null when it must be dropped. */
  private fix(s: Series): Series | null {
    const c = this.counters;
    if (s.metric.length === 0 || s.metric.length > MAX_METRIC_NAME) {
      c.seriesDropped++;
      c.lastFix = `series dropped: metric name ${s.metric.length === 0 ? 'is empty' : `"${s.metric.slice(0, 40)}…" is longer than ${MAX_METRIC_NAME} characters`}`;
      return null;
    }
    let result = s;
    let points = s.points;
    if (!points.every(([, value]) => typeof value === 'number' && Number.isFinite(value))) {
      points = points.filter(([, value]) => typeof value === 'number' && Number.isFinite(value));
      c.pointsDropped += s.points.length - points.length;
      c.lastFix = `point dropped on ${s.metric}: its value is not a finite number`;
      if (points.length === 0) {
        c.seriesDropped++;
        return null;
      }
      result = { ...result, points };
    }
    // A repeated tag (`#a,a`, or a config tag the client also sends) is one tag at the intake,
    // which would make this series the same as another one and keep only one of their points.
    const repeated = s.tags.length > 1 && new Set(s.tags).size !== s.tags.length;
    if (repeated || s.tags.length > MAX_TAGS || s.tags.some((tag) => tag.length > MAX_TAG_LENGTH)) {
      let tags = s.tags.map((tag) => {
        if (tag.length <= MAX_TAG_LENGTH) return tag;
        c.tagsTruncated++;
        c.lastFix = `tag longer than ${MAX_TAG_LENGTH} characters truncated on ${s.metric}`;
        return truncate(tag, MAX_TAG_LENGTH);
      });
      tags = [...new Set(tags)];
      if (tags.length > MAX_TAGS) {
        tags.sort();
        c.tagsDropped += tags.length - MAX_TAGS;
        c.lastFix = `${tags.length - MAX_TAGS} tags beyond ${MAX_TAGS} dropped on ${s.metric}`;
        tags = tags.slice(0, MAX_TAGS);
      }
      result = { ...result, tags };
    }
    if (s.host.length > MAX_HOST_NAME) {
      c.hostsTruncated++;
      c.lastFix = `host name longer than ${MAX_HOST_NAME} characters truncated`;
      result = { ...result, host: truncate(s.host, MAX_HOST_NAME) };
    }
    return result;
  }
}

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair. */
function truncate(text: string, max: number): string {
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** Merges series with the same (metric, type, host, tags): counts and rates (same interval) add up, gauges last-wins. */
function mergeSameContext(series: Series[]): Series[] {
  const byContext = new Map<string, Series>();
  for (const s of series) {
    const key = `${s.metric}\n${s.type}\n${s.host}\n${[...new Set(s.tags)].sort().join(',')}`;
    const seen = byContext.get(key);
    if (seen === undefined) {
      byContext.set(key, { ...s, points: s.points.map(([ts, v]) => [ts, v] as [number, number]) });
      continue;
    }
    for (const [ts, value] of s.points) {
      const point = seen.points.find(([t]) => t === ts);
      if (point === undefined) seen.points.push([ts, value]);
      else point[1] = s.type === 'count' || s.type === 'rate' ? point[1] + value : value;
    }
  }
  return [...byContext.values()];
}
