/**
 * Part of bench/cost-growth.ts: `/api/v1/query` latency over a fleet's retained week, and what
 * a million points cost on disk.
 *
 * The data: `hosts` hosts (1,000 by default), one gauge each at 60 s resolution, for the
 * retention (7 days): 10,080 points a host. Why 60 s: at an agent's 10 s a 1-day query over
 * 1,000 hosts reads 8.6 million points, past the 2 million one query may read
 * (IntakeRuntime.maxQueryPoints), and is refused with 400 INVALID_QUERY by design.
 *
 * How it gets there: the intake refuses points older than an hour (Datadog's rule), and even
 * with REKEY_INTAKE_MAX_POINT_AGE_SECONDS a replay stores a week in a minute of wall time, so
 * each stored chunk (one per metric per write batch, src/points/point-chunk.ts) would span
 * hours instead of the second a live server's chunk spans — a layout no live server has. So
 * the week is written through the server's own point store (KyselyPointStore.writeBatch, the
 * call the intake's writer makes) while the server is stopped, one batch per simulated second
 * holding the hosts that report in that second (each host at its own second of the minute, as
 * agents spread over a flush interval are) — the chunk layout a live server writes. Then the
 * built server is started on that data directory with default flags and queried over HTTP.
 */
import { performance } from 'node:perf_hooks';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KyselyPointStore } from '../src/points/kysely-point-store.js';
import type { StoredSeries } from '../src/points/point-store.js';
import { openStore } from '../src/store/open-store.js';
import { sqliteSize } from './cost-growth-series.js';
import { percentile } from './intake-bench-support.js';
import { startShippedServer } from './support/shipped-server.js';

export const QUERY_METRIC = 'bench.growth.load';
const RESOLUTION_SECONDS = 60;

export interface QueryLatency {
  query: string;
  windowSeconds: number;
  runs: number;
  p50Ms: number;
  p99Ms: number;
  /** Series and points in one answer (the last run), to show what was answered. */
  seriesAnswered: number;
  pointsAnswered: number;
}

export interface QueryGrowthResult {
  hosts: number;
  days: number;
  storedPoints: number;
  chunks: number;
  databaseBytes: number;
  writeSeconds: number;
  latencies: QueryLatency[];
}

/** Writes `days` of `hosts` gauges at 60 s through the point store, a batch per simulated second. */
export async function writeRetainedWeek(dataDir: string, hosts: number, days: number, end: number): Promise<number> {
  const store = await openStore({ dataDir });
  const started = Date.now();
  try {
    const tables = store.sharedTables();
    const org = (await tables.db.selectFrom('orgs').select('id').executeTakeFirstOrThrow()) as { id: string };
    const points = new KyselyPointStore(tables);
    const names = Array.from({ length: hosts }, (_, i) => `growth-host-${String(i).padStart(4, '0')}`);
    // Host i reports at second (i mod 60) of each minute.
    const bySecond = Array.from({ length: RESOLUTION_SECONDS }, (_, second) => names.filter((_, i) => i % RESOLUTION_SECONDS === second));
    const start = end - days * 86_400 + 600; // ten minutes inside the retention: no sweep deletes any of it
    let lastReport = Date.now();
    for (let ts = start; ts <= end; ts++) {
      const reporting = bySecond[ts % RESOLUTION_SECONDS]!;
      if (reporting.length === 0) continue;
      const series: StoredSeries[] = reporting.map((host) => ({
        orgId: org.id,
        metric: QUERY_METRIC,
        host,
        tags: ['env:bench'],
        type: 'gauge',
        interval: null,
        points: [[ts, (ts % 3600) / 36]],
      }));
      await points.writeBatch({ series, hosts: [], checkRuns: [] });
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        process.stdout.write(`  writing the retained week: ${Math.round(((ts - start) / (end - start)) * 100)} %\n`);
      }
    }
  } finally {
    await store.close();
  }
  return (Date.now() - started) / 1000;
}

export async function timeQueries(
  server: { url: string; appKey: string; apiKey: string },
  query: string,
  windowSeconds: number,
  runs: number,
  latest: number,
  earliest: number,
): Promise<QueryLatency> {
  const samples: number[] = [];
  let seriesAnswered = 0;
  let pointsAnswered = 0;
  for (let run = -1; run < runs; run++) {
    // Windows spread over the retained week (never the same range twice in a row); one unmeasured warm-up.
    const to = latest - Math.floor(((run + 1) / (runs + 1)) * (latest - earliest - windowSeconds));
    const from = to - windowSeconds;
    const started = performance.now();
    const response = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ from: String(from), to: String(to), query })}`, {
      headers: { 'dd-api-key': server.apiKey, 'dd-application-key': server.appKey },
    });
    const body = (await response.json()) as { series?: Array<{ pointlist: unknown[] }>; errors?: unknown };
    const ms = performance.now() - started;
    if (response.status !== 200 || !body.series || body.series.length === 0) {
      throw new Error(`query ${query} [${from}, ${to}] answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
    }
    seriesAnswered = body.series.length;
    pointsAnswered = body.series.reduce((n, s) => n + s.pointlist.length, 0);
    if (run >= 0) samples.push(ms);
  }
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { query, windowSeconds, runs, p50Ms: round(percentile(samples, 0.5)), p99Ms: round(percentile(samples, 0.99)), seriesAnswered, pointsAnswered };
}

export async function measureQueryGrowth(options: { hosts: number; days: number; runs: { hour: number; day: number } }): Promise<QueryGrowthResult> {
  // A fresh server prints its keys once; stopped at once, its data directory is kept for the week.
  const first = await startShippedServer({ keepData: true });
  await first.stop();
  const dataDir = first.dataDir;
  try {
    const end = Math.floor(Date.now() / 1000) - 120;
    const writeSeconds = await writeRetainedWeek(dataDir, options.hosts, options.days, end);
    const size = sqliteSize(dataDir);
    process.stdout.write(
      `  wrote ${size.points} points in ${size.chunks} chunks in ${writeSeconds.toFixed(1)} s; database ${(size.bytes / 2 ** 20).toFixed(1)} MiB\n`,
    );
    const server = await startShippedServer({ dataDir, keepData: true });
    const keyed = { url: server.url, apiKey: first.apiKey, appKey: first.appKey };
    const latencies: QueryLatency[] = [];
    try {
      const earliest = end - options.days * 86_400 + 600;
      // One shape, a line per host: a 1-day window takes tens of seconds on a busy 2-core machine
      // (the measured run of 2026-11-30 also timed `avg:…{*}`, no faster), so more would pass ten minutes.
      for (const query of [`avg:${QUERY_METRIC}{*} by {host}`]) {
        latencies.push(await timeQueries(keyed, query, 3600, options.runs.hour, end, earliest));
        latencies.push(await timeQueries(keyed, query, 86_400, options.runs.day, end, earliest));
        for (const l of latencies.slice(-2)) {
          process.stdout.write(
            `  ${l.query} over ${l.windowSeconds / 3600} h: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (${l.runs} runs; ${l.seriesAnswered} series, ${l.pointsAnswered} points answered)\n`,
          );
        }
      }
    } finally {
      await server.stop();
    }
    return { hosts: options.hosts, days: options.days, storedPoints: size.points, chunks: size.chunks, databaseBytes: size.bytes, writeSeconds, latencies };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Run alone, for iterating on the query path and for A/B runs of two builds on the same data:
 *
 *   node --import tsx bench/cost-growth-query.ts --data DIR --hosts 1000 --days 3 --build-only
 *     writes the data (once) into DIR/data and keeps the first keys in DIR/keys.json (0600; a
 *     bench's throw-away keys, never printed)
 *   node --import tsx bench/cost-growth-query.ts --data DIR [--script dist/cli/main.js]
 *       [--rounds 3] [--runs-hour 10] [--runs-day 3] [--cpu-prof DIR] [--query TEXT]
 *     starts the built server on it and times `avg:bench.growth.load{*} by {host}` (or TEXT) over 1 h and
 *     1 d windows. With --script A,B (two builds), each round runs A then B on their own copy of
 *     the data (DIR/data-0, DIR/data-1: a later build may migrate its copy), and every round is
 *     printed with the load average.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      hosts: { type: 'string', default: '1000' },
      days: { type: 'string', default: '3' },
      'build-only': { type: 'boolean', default: false },
      script: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      'runs-hour': { type: 'string', default: '10' },
      'runs-day': { type: 'string', default: '3' },
      'cpu-prof': { type: 'string' },
      query: { type: 'string' },
    },
  });
  if (values.data === undefined) throw new Error('--data DIR is required');
  const dir = values.data;
  const keysFile = join(dir, 'keys.json');
  const dataDir = join(dir, 'data');
  if (!existsSync(keysFile)) {
    const first = await startShippedServer({ keepData: true });
    await first.stop();
    const end = Math.floor(Date.now() / 1000) - 120;
    const hosts = Number(values.hosts);
    const days = Number(values.days);
    const seconds = await writeRetainedWeek(first.dataDir, hosts, days, end);
    cpSync(first.dataDir, dataDir, { recursive: true });
    rmSync(first.dataDir, { recursive: true, force: true });
    const size = sqliteSize(dataDir);
    writeFileSync(keysFile, JSON.stringify({ apiKey: first.apiKey, appKey: first.appKey, end, hosts, days }), { mode: 0o600 });
    process.stdout.write(`wrote ${size.points} points in ${size.chunks} chunks in ${seconds.toFixed(1)} s (${hosts} hosts × ${days} d)\n`);
  }
  if (values['build-only']) return;
  const saved = JSON.parse(readFileSync(keysFile, 'utf8')) as { apiKey: string; appKey: string; end: number; hosts: number; days: number };
  const scripts = (values.script ?? 'dist/cli/main.js').split(',');
  const earliest = saved.end - saved.days * 86_400 + 600;
  const query = values.query ?? `avg:${QUERY_METRIC}{*} by {host}`;
  process.stdout.write(`${saved.hosts} hosts × ${saved.days} d; ${query}\n`);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, script] of scripts.entries()) {
      const copy = join(dir, `data-${i}`);
      if (!existsSync(copy)) cpSync(dataDir, copy, { recursive: true });
      const server = await startShippedServer({
        dataDir: copy,
        keepData: true,
        script,
        ...(values['cpu-prof'] === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] }),
      });
      try {
        const keyed = { url: server.url, apiKey: saved.apiKey, appKey: saved.appKey };
        for (const [windowSeconds, runs] of [
          [3600, Number(values['runs-hour'])],
          [86_400, Number(values['runs-day'])],
        ] as const) {
          const l = await timeQueries(keyed, query, windowSeconds, runs, saved.end, earliest);
          process.stdout.write(
            `round ${round} ${script} ${windowSeconds / 3600} h: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (${runs} runs; ${l.seriesAnswered} series, ${l.pointsAnswered} points) load ${loadavg()
              .map((x) => x.toFixed(2))
              .join(' ')}\n`,
          );
        }
      } finally {
        await server.stop();
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
