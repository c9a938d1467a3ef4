/**
 * The series for the key page's chart: reporting hosts and points per minute over time, for
 * a key and the keys it was rolled from or into, so a rotation can be watched (the old key's
 * line falls, the new key's rises).
 *
 * Drawn from the real per-minute usage the intake records for every key (issue 19;
 * src/intake/usage-minutes.ts, store.listKeyUsageMinutes): a bucket of several minutes shows
 * the points per minute averaged over the bucket and the most hosts any of its minutes saw
 * (distinct hosts cannot be added up across minutes). A minute without use counts as zero:
 * a host that paused shows as a dip, not as a straight line between two sightings.
 */
import type { KeyUsageMinute } from '../store/store.js';

const MINUTE_MS = 60_000;

export interface ChartSeries {
  label: string;
  unit: 'hosts' | 'points';
  values: number[];
}

export interface ChartData {
  /** Bucket start times, epoch seconds (uPlot's x). */
  x: number[];
  series: ChartSeries[];
}

export interface KeyUsageInput {
  label: string;
  /** The key's usage minutes, any order. */
  minutes: readonly KeyUsageMinute[];
}

export interface ChartOptions {
  now: Date;
  /** At most this many buckets (default 60); fewer when the span has fewer minutes. */
  buckets?: number;
  /** The chart spans at least this long (default 10 minutes)… */
  minSpanMs?: number;
  /** …and at most this long (default 7 days, the retention). */
  maxSpanMs?: number;
}

/** The span to read before drawing: the longest the chart shows (default 7 days). */
export function chartRange(options: ChartOptions): { from: number; to: number } {
  const to = Math.floor(options.now.getTime() / MINUTE_MS) * MINUTE_MS;
  return { from: to - (options.maxSpanMs ?? 7 * 86_400_000), to };
}

export function keyUsageChart(keys: readonly KeyUsageInput[], options: ChartOptions): ChartData {
  const { from: earliestShown, to: lastMinute } = chartRange(options);
  const minSpan = options.minSpanMs ?? 10 * MINUTE_MS;
  // From the first minute with use (at most maxSpan back, at least minSpan), to the current minute.
  let earliest = lastMinute;
  for (const key of keys) for (const m of key.minutes) if (m.minute.getTime() >= earliestShown) earliest = Math.min(earliest, m.minute.getTime());
  const spanMinutes = Math.max(minSpan / MINUTE_MS, (lastMinute - earliest) / MINUTE_MS + 1);
  const bucketMinutes = Math.max(1, Math.ceil(spanMinutes / (options.buckets ?? 60)));
  // A bucket is at least a minute (the data's resolution): a short span has fewer buckets.
  const buckets = Math.min(options.buckets ?? 60, Math.ceil(spanMinutes / bucketMinutes));
  const start = lastMinute - (buckets * bucketMinutes - 1) * MINUTE_MS;

  const x = Array.from({ length: buckets }, (_, i) => Math.floor((start + i * bucketMinutes * MINUTE_MS) / 1000));
  const series: ChartSeries[] = [];
  for (const key of keys) {
    const hosts = new Array<number>(buckets).fill(0);
    const points = new Array<number>(buckets).fill(0);
    for (const m of key.minutes) {
      const i = Math.floor((m.minute.getTime() - start) / (bucketMinutes * MINUTE_MS));
      if (i < 0 || i >= buckets) continue;
      hosts[i] = Math.max(hosts[i]!, m.hosts);
      points[i]! += m.points;
    }
    series.push({ label: `hosts · ${key.label}`, unit: 'hosts', values: hosts });
    series.push({ label: `points/min · ${key.label}`, unit: 'points', values: points.map((p) => Math.round((p / bucketMinutes) * 10) / 10) });
  }
  return { x, series };
}
