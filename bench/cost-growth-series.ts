/**
 * Part of bench/cost-growth.ts: what N distinct series cost the server users run — intake
 * throughput and its resident memory, and the SQLite file per million points — for one N.
 *
 * Each N gets a fresh `rekey server` (bench/support/shipped-server.ts: dist/, default flags,
 * own process, SQLite), so its memory reflects N and nothing measured before it. The N series
 * are metric × host × tags: N/100 hosts, each with 10 metrics × 10 values of one tag, one
 * v2 JSON payload per host (100 series of one point). Every payload is sent once first (the
 * server then has seen all N series), then they are sent round-robin for the measured seconds
 * by autocannon from pre-built bodies, as bench/support/json-intake-bench.ts does.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { processMemory } from './support/process-memory.js';
import { startShippedServer } from './support/shipped-server.js';

const SERIES_PER_BODY = 100;

export interface SeriesGrowthRow {
  series: number;
  hosts: number;
  /** Points per second answered 202 in the measured seconds. */
  pointsPerSecond: number;
  p99Ms: number;
  non2xx: number;
  /** Seconds the first pass (every series once) took. */
  firstPassSeconds: number;
  /** Highest VmRSS sampled (every 250 ms) during the measured seconds, MiB. */
  rssMiB: number;
  /** VmHWM at the end: the peak since start, first pass included, MiB. */
  peakMiB: number;
  /** SQLite file after a TRUNCATE checkpoint (the WAL is then empty), and the points it holds. */
  databaseBytes: number;
  storedPoints: number;
}

/** One payload per host: 10 metrics × 10 `shard` values, one point each. */
function bodiesFor(series: number): string[] {
  const timestamp = Math.floor(Date.now() / 1000) - 60;
  return Array.from({ length: Math.ceil(series / SERIES_PER_BODY) }, (_, host) =>
    JSON.stringify({
      series: Array.from({ length: SERIES_PER_BODY }, (_, s) => ({
        metric: `bench.growth.metric_${s % 10}`,
        type: 3,
        points: [{ timestamp, value: host + s / 100 }],
        resources: [{ name: `growth-host-${host}`, type: 'host' }],
        tags: ['env:bench', `shard:${Math.floor(s / 10)}`],
      })),
    }),
  );
}

async function post(url: string, apiKey: string, bodies: string[], connections: number, limit: { amount: number } | { seconds: number }) {
  let next = 0;
  return autocannon({
    url: `${url}/api/v2/series`,
    // autocannon refuses more connections than requests.
    connections: 'amount' in limit ? Math.min(connections, limit.amount) : connections,
    ...('amount' in limit ? { amount: limit.amount } : { duration: limit.seconds }),
    method: 'POST',
    headers: { 'content-type': 'application/json', 'dd-api-key': apiKey },
    requests: [{ method: 'POST', setupRequest: (request: Record<string, unknown>) => ({ ...request, body: bodies[next++ % bodies.length] }) }],
  });
}

/** The database file once its WAL is checkpointed into it and truncated, and the points it holds. */
export function sqliteSize(dataDir: string): { bytes: number; points: number; chunks: number } {
  const file = join(dataDir, 'rekey.db');
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const row = db.prepare('SELECT count(*) AS chunks, coalesce(sum(n_points), 0) AS points FROM metric_chunks').get() as { chunks: number; points: number };
    let bytes = statSync(file).size;
    for (const extra of ['-wal', '-shm']) {
      try {
        bytes += statSync(file + extra).size;
      } catch {
        // absent after the checkpoint: nothing to add
      }
    }
    return { bytes, points: row.points, chunks: row.chunks };
  } finally {
    db.close();
  }
}

export async function measureSeriesGrowth(series: number, options: { seconds: number; connections: number }): Promise<SeriesGrowthRow> {
  const bodies = bodiesFor(series);
  const server = await startShippedServer({ keepData: true });
  let stopped = false;
  try {
    const firstStarted = Date.now();
    const first = await post(server.url, server.apiKey, bodies, options.connections, { amount: bodies.length });
    const firstPassSeconds = (Date.now() - firstStarted) / 1000;
    if (first.non2xx > 0 || first.errors > 0) process.stdout.write(`  first pass: ${first.non2xx} answers other than 202, ${first.errors} errors\n`);
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, processMemory(server.pid).rssMiB)), 250);
    const measured = await post(server.url, server.apiKey, bodies, options.connections, { seconds: options.seconds });
    clearInterval(sampler);
    const memory = processMemory(server.pid);
    await server.stop();
    stopped = true;
    const size = sqliteSize(server.dataDir);
    return {
      series,
      hosts: bodies.length,
      pointsPerSecond: Math.round((measured['2xx'] * SERIES_PER_BODY) / measured.duration),
      p99Ms: measured.latency.p99,
      non2xx: first.non2xx + measured.non2xx,
      firstPassSeconds: Math.round(firstPassSeconds * 10) / 10,
      rssMiB: Math.max(peakRss, memory.rssMiB),
      peakMiB: memory.peakMiB,
      databaseBytes: size.bytes,
      storedPoints: size.points,
    };
  } finally {
    if (!stopped) await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}
