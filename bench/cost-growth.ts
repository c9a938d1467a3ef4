/**
 * How cost grows (issue 18, item 4), measured on the server users run (the built `rekey
 * server`, default flags, its own process, SQLite):
 *
 *   1. intake throughput (points/s) and server memory (VmRSS, VmHWM) at 10³, 10⁴, 10⁵ and 10⁶
 *      distinct series (metric × host × tags), a fresh server for each (cost-growth-series.ts);
 *   2. `/api/v1/query` p50/p99 for a 1-hour and a 1-day window over 1,000 hosts with 7 days
 *      retained, and the database size per million points (cost-growth-query.ts, which says
 *      how the week is written).
 *
 * Prints tables, writes bench/results/cost-growth.json and, with Vega-Lite installed, the
 * chart bench/results/cost-growth.svg that bench/RESULTS.md shows. No goal is set for these
 * figures: they describe growth. The load average is printed at the start and the end —
 * other work on this 2-core machine lowers every figure.
 *
 * Usage: node --import tsx bench/cost-growth.ts [--quick] [--seconds 10] [--connections 20]
 *   --quick  10³ and 10⁴ series, 2 s each; 100 hosts × 1 day for the queries (about a minute)
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { measureQueryGrowth } from './cost-growth-query.js';
import { measureSeriesGrowth, type SeriesGrowthRow } from './cost-growth-series.js';
import { writeBenchResult, BENCH_RESULTS_DIR } from './support/bench-result.js';
import { ensureBuilt } from './support/shipped-server.js';
import { writeSeriesGrowthChart } from './support/cost-growth-chart.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '20' },
  },
});
const quick = values.quick;
const seconds = Number(values.seconds ?? (quick ? 2 : 10));
const connections = Number(values.connections);
const seriesCounts = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000];
const queryShape = quick ? { hosts: 100, days: 1, runs: { hour: 5, day: 3 } } : { hosts: 1_000, days: 7, runs: { hour: 20, day: 5 } };

const formatLoad = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');
const loadStart = loadavg();
process.stdout.write(`load average at start (1, 5, 15 min): ${formatLoad(loadStart)}${quick ? ' (--quick)' : ''}\n`);
ensureBuilt();

const rows: SeriesGrowthRow[] = [];
process.stdout.write('series     hosts  points/s  p99 ms  non-2xx  RSS MiB  peak MiB  db bytes/point  load (1 min)\n');
for (const series of seriesCounts) {
  const row = await measureSeriesGrowth(series, { seconds, connections });
  rows.push(row);
  process.stdout.write(
    `${String(series).padEnd(9)}  ${String(row.hosts).padStart(5)}  ${String(row.pointsPerSecond).padStart(8)}  ${String(row.p99Ms).padStart(6)}  ${String(row.non2xx).padStart(7)}  ${String(row.rssMiB).padStart(7)}  ${String(row.peakMiB).padStart(8)}  ${(row.databaseBytes / row.storedPoints).toFixed(1).padStart(14)}  ${loadavg()[0]!.toFixed(2)}\n`,
  );
}

process.stdout.write(`query: ${queryShape.hosts} hosts × ${queryShape.days} day(s) at 60 s\n`);
const query = await measureQueryGrowth(queryShape);
const loadEnd = loadavg();
process.stdout.write(`load average at end (1, 5, 15 min): ${formatLoad(loadEnd)}\n`);

const mibPerMillion = (bytes: number, points: number) => Math.round((bytes / 2 ** 20 / (points / 1e6)) * 10) / 10;
const chart = await writeSeriesGrowthChart(rows, BENCH_RESULTS_DIR, 'cost-growth.svg');
process.stdout.write(chart.written ? `wrote ${chart.file}\n` : `chart skipped: ${chart.reason}\n`);
const window = (s: number) => (s === 3600 ? '1 h' : s === 86_400 ? '1 d' : `${s} s`);
const file = writeBenchResult('cost-growth', {
  figures: [
    ...query.latencies.map((l) => ({
      name: `/api/v1/query p99, ${window(l.windowSeconds)} window, \`${l.query}\` (${query.hosts} hosts, ${query.days} d retained)`,
      value: l.p99Ms,
      unit: 'ms',
    })),
    {
      name: `database size per million points (${query.hosts} hosts × ${query.days} d at 60 s, live chunk layout)`,
      value: mibPerMillion(query.databaseBytes, query.storedPoints),
      unit: 'MiB',
    },
    ...rows.map((r) => ({ name: `intake throughput at ${r.series.toLocaleString('en-US')} distinct series`, value: r.pointsPerSecond, unit: 'points/s' })),
    ...rows.map((r) => ({
      name: `server RSS at ${r.series.toLocaleString('en-US')} distinct series (highest sampled while loaded)`,
      value: r.rssMiB,
      unit: 'MiB',
    })),
    { name: 'load average (1 min) at start', value: Math.round(loadStart[0]! * 100) / 100, unit: '' },
    { name: 'load average (1 min) at end', value: Math.round(loadEnd[0]! * 100) / 100, unit: '' },
  ],
  tables: [
    {
      title: 'Intake cost by distinct series (fresh server each, 100-series v2 JSON payloads, one point a series)',
      columns: ['distinct series', 'hosts', 'points/s', 'p99 ms', 'non-202', 'RSS MiB', 'peak RSS MiB', 'db MiB / million points'],
      rows: rows.map((r) => [r.series, r.hosts, r.pointsPerSecond, r.p99Ms, r.non2xx, r.rssMiB, r.peakMiB, mibPerMillion(r.databaseBytes, r.storedPoints)]),
      note: `${seconds} s measured per row after a first pass that sends every series once; ${connections} connections; RSS = VmRSS sampled every 250 ms, peak = VmHWM (/proc/<pid>/status). Database after a TRUNCATE checkpoint.`,
    },
    {
      title: `/api/v1/query over ${query.hosts} hosts, ${query.days} d retained (${query.storedPoints.toLocaleString('en-US')} points in ${query.chunks.toLocaleString('en-US')} chunks)`,
      columns: ['query', 'window', 'runs', 'p50 ms', 'p99 ms', 'series answered', 'points answered'],
      rows: query.latencies.map((l) => [`\`${l.query}\``, window(l.windowSeconds), l.runs, l.p50Ms, l.p99Ms, l.seriesAnswered, l.pointsAnswered]),
      note: "One gauge a host at 60 s, written through the server's point store a simulated second at a time (the chunk layout a live server writes; see bench/cost-growth-query.ts for why not through the intake), then the built server started on it with default flags. Queries one at a time, windows spread over the week, warm-ups unmeasured.",
    },
  ],
  ...(chart.written ? { charts: [{ title: 'Intake throughput and server RSS by distinct series', file: 'cost-growth.svg' }] } : {}),
  details: {
    quick,
    seconds,
    connections,
    query_write_seconds: query.writeSeconds,
    load_start: loadStart,
    load_end: loadEnd,
    chart: chart.written ? 'cost-growth.svg' : chart.reason,
  },
});
process.stdout.write(`wrote ${file}\n`);
