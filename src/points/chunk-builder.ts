/**
 * Turns a batch into chunk rows (point-chunk.ts): one row per (org, metric), one header entry
 * per (host, tags) — a series written several times in the batch is one entry whose points are
 * its writes' points in the order written (a later point for the same ts wins when read).
 *
 * Why a builder: a save of the intake journal (point-writer.ts) is a second's batches, half a
 * million points in tens of thousands of series writes. Decoding them into series objects and
 * re-encoding cost ~0.3 µs a point, most of it objects for the garbage collector. Here a write
 * is three numbers (where its points are), and points are copied from their packed arrays
 * straight into the chunk.
 */
import { readBatchRecord } from './batch-record.js';
import { encodeChunkWith, type ChunkHeaderEntry } from './point-chunk.js';
import { seriesKey, type CheckRunRecord, type HostSighting, type PointList, type StoredSeries } from './point-store.js';

export interface ChunkRow {
  org_id: string;
  metric: string;
  ts_min: number;
  ts_max: number;
  n_points: number;
  points: Buffer;
}

/** One series of one metric: where each write's points are. */
interface SeriesPoints {
  host: string;
  tags: readonly string[];
  type: StoredSeries['type'];
  interval: number | null;
  count: number;
  /** Per write: its points (packed, or pairs), the first point's index in them, how many. */
  sources: PointList[];
  starts: number[];
  counts: number[];
}

export class ChunkBuilder {
  /** org → metric → host and tags → points. */
  private readonly orgs = new Map<string, Map<string, Map<string, SeriesPoints>>>();
  readonly hosts: HostSighting[] = [];
  readonly checkRuns: CheckRunRecord[] = [];

  addSeries(series: readonly StoredSeries[]): void {
    for (const s of series) {
      const count = s.points instanceof Float64Array ? s.points.length / 2 : s.points.length;
      this.add(s.orgId, s.metric, s.host, s.tags, s.type, s.interval, s.points, 0, count);
    }
  }

  /** A journal record (batch-record.ts): its series, host sightings and check runs. */
  addRecord(record: Uint8Array): void {
    const { orgs, entries, values, hosts, checkRuns } = readBatchRecord(record);
    let start = 0;
    for (const [org, metric, host, tags, type, interval, count] of entries) {
      this.add(orgs[org]!, metric, host, tags, type, interval, values, start, count);
      start += count;
    }
    for (const h of hosts) this.hosts.push(h);
    for (const c of checkRuns) this.checkRuns.push(c);
  }

  rows(): ChunkRow[] {
    const rows: ChunkRow[] = [];
    for (const [orgId, metrics] of this.orgs) {
      for (const [metric, series] of metrics) {
        const entries: ChunkHeaderEntry[] = [];
        let count = 0;
        for (const s of series.values()) {
          entries.push([s.host, s.tags, s.type, s.interval, s.count]);
          count += s.count;
        }
        let min = Infinity;
        let max = -Infinity;
        const points = encodeChunkWith(entries, count, (values) => {
          let i = 0;
          for (const s of series.values()) {
            for (let w = 0; w < s.sources.length; w++) {
              const source = s.sources[w]!;
              const end = s.starts[w]! + s.counts[w]!;
              if (source instanceof Float64Array) {
                const from = i;
                values.set(source.subarray(2 * s.starts[w]!, 2 * end), i); // one copy per write
                i += 2 * s.counts[w]!;
                for (let t = from; t < i; t += 2) {
                  const ts = values[t]!;
                  if (ts < min) min = ts;
                  if (ts > max) max = ts;
                }
              } else {
                for (let p = s.starts[w]!; p < end; p++) {
                  const [ts, value] = source[p]!;
                  values[i++] = ts;
                  values[i++] = value;
                  if (ts < min) min = ts;
                  if (ts > max) max = ts;
                }
              }
            }
          }
        });
        rows.push({ org_id: orgId, metric, ts_min: min, ts_max: max, n_points: count, points });
      }
    }
    return rows;
  }

  private add(
    orgId: string,
    metric: string,
    host: string,
    tags: readonly string[],
    type: StoredSeries['type'],
    interval: number | null,
    source: PointList,
    start: number,
    count: number,
  ): void {
    if (count === 0) return;
    let metrics = this.orgs.get(orgId);
    if (metrics === undefined) this.orgs.set(orgId, (metrics = new Map()));
    let series = metrics.get(metric);
    if (series === undefined) metrics.set(metric, (series = new Map()));
    const key = seriesKey(host, tags);
    let points = series.get(key);
    if (points === undefined) series.set(key, (points = { host, tags, type, interval, count: 0, sources: [], starts: [], counts: [] }));
    // The latest type and interval win, like the latest value.
    points.type = type;
    points.interval = interval;
    points.count += count;
    points.sources.push(source);
    points.starts.push(start);
    points.counts.push(count);
  }
}
