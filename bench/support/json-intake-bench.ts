/**
 * The intake of the server users run — the built `rekey server` (dist/cli/main.js), started as
 * the README starts it (default flags: log level info, durability process, the default rate
 * limits), in its own process — against the floor, a bare `node:http` server that only parses
 * the same 100-point v2 JSON (bench/intake-bench-server.ts bare), in its own process. Rounds
 * alternate floor → server, every round is printed, and the load average at start and end
 * (bench/support/shipped-vs-floor.ts). Goals (issue 18), judged on the median and the worst
 * round: ≥ 0.70 of the floor on SQLite (the default), ≥ 0.50 on PostgreSQL.
 *
 * On PostgreSQL it starts the same server with REKEY_DATABASE_URL pointing at a fresh
 * database created for the run on REKEY_BENCH_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres) and dropped after it.
 *
 * The server's default per-key rate limit (2,000 requests/s, burst 4,000) is part of what users
 * run, so 429s are counted and printed; points/s counts 202s only.
 *
 * Run by bench/intake-shipped-server.ts (SQLite) and bench/intake-shipped-server-postgres.ts.
 */
import { ratioFigures, roundsTable } from './alternating-rounds.js';
import { writeBenchResult } from './bench-result.js';
import { createBenchDatabase, type BenchDatabase } from './bench-postgres.js';
import { roundOptions } from './round-options.js';
import { serverNon2xx, shippedVsFloor } from './shipped-vs-floor.js';
import { hundredPointBodies } from '../intake-bench-support.js';

const POINTS_PER_BODY = 100;

/** Runs the measurement and writes `resultName` (bench/results/<name>.json). */
export async function runJsonIntakeBench(database: 'sqlite' | 'postgres', resultName: string): Promise<void> {
  const options = roundOptions();
  const benchDatabase: BenchDatabase | undefined = database === 'postgres' ? await createBenchDatabase() : undefined;
  const serverEnv: NodeJS.ProcessEnv | undefined = benchDatabase && { REKEY_DATABASE_URL: benchDatabase.url };
  let run;
  try {
    run = await shippedVsFloor({
      floor: 'bare',
      bodies: hundredPointBodies(500),
      headers: { 'content-type': 'application/json' },
      pointsPerRequest: POINTS_PER_BODY,
      ...options,
      server: { env: serverEnv },
    });
  } finally {
    await benchDatabase?.drop();
  }
  const goal = database === 'postgres' ? 0.5 : 0.7;
  writeBenchResult(resultName, {
    figures: [
      ...ratioFigures(run.result, `shipped rekey server (${database === 'postgres' ? 'PostgreSQL' : 'SQLite'}) / bare node:http, 100-point v2 JSON`, goal),
      { name: 'server answers other than 202 (all rounds; 429 = default per-key rate limit)', value: serverNon2xx(run.result), unit: 'requests' },
      { name: 'server log lines during the run (warm-up and rounds)', value: run.logLines, unit: 'lines' },
    ],
    tables: [roundsTable(run.result, POINTS_PER_BODY)],
  });
}
