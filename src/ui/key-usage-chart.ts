/**
 * The series for the key page's chart: reporting hosts and points per minute over time, for
 * a key and the keys it was rolled from or into, so a rotation can be watched (the old key's
 * line falls, the new key's rises).
 *
 * The store keeps one aggregate row per (key, host) — first seen, last seen, points — and no
 * time series. The chart is DERIVED from those rows: a host counts as reporting in every
 * bucket between its first and last sighting, and its points are spread evenly over that
 * span. That is exact for the question a rotation asks (which hosts still use the old key,
 * since when the new one is used) and an even-rate estimate for points; a host that paused
 * in between still counts as reporting. It needs no extra table and survives restarts.
 */
import type { KeyHostUsage } from '../store/store.js';

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
  hosts: readonly KeyHostUsage[];
}

export interface ChartOptions {
  now: Date;
  buckets?: number;
  /** The chart spans at least this long (default 10 minutes)… */
  minSpanMs?: number;
  /** …and at most this long (default 7 days). */
  maxSpanMs?: number;
}

export function keyUsageChart(keys: readonly KeyUsageInput[], options: ChartOptions): ChartData {
  const buckets = options.buckets ?? 60;
  const end = options.now.getTime();
  const maxSpan = options.maxSpanMs ?? 7 * 86_400_000;
  const minSpan = options.minSpanMs ?? 10 * 60_000;
  let earliest = end;
  for (const key of keys) for (const host of key.hosts) earliest = Math.min(earliest, host.firstSeen.getTime());
  const span = Math.min(maxSpan, Math.max(minSpan, end - earliest));
  const bucketMs = Math.ceil(span / buckets);
  const start = end - bucketMs * buckets;

  const x = Array.from({ length: buckets }, (_, i) => Math.floor((start + i * bucketMs) / 1000));
  const series: ChartSeries[] = [];
  for (const key of keys) {
    const hostCounts = new Array<number>(buckets).fill(0);
    const points = new Array<number>(buckets).fill(0);
    for (const host of key.hosts) {
      const first = host.firstSeen.getTime();
      const last = Math.max(first, host.lastSeen.getTime());
      const duration = Math.max(1, last - first);
      for (let i = 0; i < buckets; i++) {
        const bucketStart = start + i * bucketMs;
        const bucketEnd = bucketStart + bucketMs;
        // The last bucket is closed so a sighting exactly at `now` is counted.
        if (first >= bucketEnd && i < buckets - 1) continue;
        if (last < bucketStart) continue;
        hostCounts[i]! += 1;
        const overlap = last === first ? 1 : Math.max(0, Math.min(last, bucketEnd) - Math.max(first, bucketStart));
        points[i]! += (host.points * overlap) / duration;
      }
    }
    const perMinute = 60_000 / bucketMs;
    series.push({ label: `hosts · ${key.label}`, unit: 'hosts', values: hostCounts });
    series.push({ label: `points/min · ${key.label}`, unit: 'points', values: points.map((p) => Math.round(p * perMinute * 10) / 10) });
  }
  return { x, series };
}
