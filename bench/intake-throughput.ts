/**
 * Intake throughput in points per second with 100-point v2 JSON payloads, points stored as
 * the server stores them on SQLite (journaled before each 202, saved into the database every
 * second: src/points/point-journal.ts), against a bare `node:http` server that only parses
 * the same JSON — measured in the same run, each server in its own process, loaded by
 * autocannon from this process, both loaded at the same time in each round. Goal: intake ≥ 70% of the bare server.
 * Then the same rounds with the intake's storage switched off (`intake-nostore`): the ratio
 * it reaches is the ceiling that everything but storage leaves (how far storage is the cost).
 *
 * Usage: node --import tsx bench/intake-throughput.ts [--seconds 5] [--rounds 3] [--connections 20]
 * Writes bench/results/intake-throughput.json.
 */
import { parseArgs } from 'node:util';
import { generateKey } from '../src/keys/key-format.js';
import { hundredPointBodies, load, startBenchServer, writeResult, type BenchServer, type LoadResult } from './intake-bench-support.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const POINTS_PER_PAYLOAD = 100;

const apiKey = generateKey('api');
const env = { ...process.env, REKEY_BENCH_API_KEY: apiKey };
const bodies = hundredPointBodies(2000);
const headers = { 'content-type': 'application/json', 'dd-api-key': apiKey };

type Variant = 'intake' | 'bare' | 'intake-nostore' | 'bare-vs-nostore';
const runs: Array<{ variant: Variant; result: LoadResult }> = [];
const series = (server: BenchServer) => `${server.url}/api/v2/series`;

/** Warms `server` up, then loads it and `baseline` at the same time in each round, so the machine's other load weighs on both alike. */
async function measureRounds(server: BenchServer, baseline: BenchServer, variants: [Variant, Variant]): Promise<void> {
  await load({ url: series(server), headers, bodies, connections, seconds: 2 });
  for (let round = 0; round < rounds; round++) {
    const [serverRun, baselineRun] = await Promise.all([
      load({ url: series(server), headers, bodies, connections, seconds }),
      load({ url: series(baseline), headers, bodies, connections, seconds }),
    ]);
    runs.push({ variant: variants[0], result: serverRun }, { variant: variants[1], result: baselineRun });
  }
}

const bare = await startBenchServer('bare', env);
await load({ url: series(bare), headers, bodies, connections, seconds: 2 });
let stored: Record<string, number> = {};
try {
  const intake = await startBenchServer('intake', env);
  try {
    await measureRounds(intake, bare, ['intake', 'bare']);
  } finally {
    stored = await intake.stop();
  }
  const withoutStorage = await startBenchServer('intake-nostore', env);
  try {
    await measureRounds(withoutStorage, bare, ['intake-nostore', 'bare-vs-nostore']);
  } finally {
    await withoutStorage.stop();
  }
} finally {
  await bare.stop();
}

const mean = (variant: string) => {
  const picked = runs.filter((r) => r.variant === variant).map((r) => r.result.requestsPerSecond * POINTS_PER_PAYLOAD);
  return picked.reduce((a, b) => a + b, 0) / picked.length;
};
const intakePps = mean('intake');
const barePps = mean('bare');
const ratio = intakePps / barePps;
const ceiling = mean('intake-nostore') / mean('bare-vs-nostore');
writeResult('intake-throughput', {
  benchmark: 'intake-throughput',
  at: new Date().toISOString(),
  config: { seconds, rounds, connections, payload: '100 points (10 series × 10), v2 JSON, 2000 distinct payloads cycled', store: 'SQLite; each batch in the intake journal before its 202, saved into SQLite every second (as rekey server)' },
  intake_points_per_second: Math.round(intakePps),
  bare_parse_points_per_second: Math.round(barePps),
  ratio_intake_to_bare: Number(ratio.toFixed(4)),
  ratio_intake_without_storage_to_bare: Number(ceiling.toFixed(4)),
  goal: 'ratio ≥ 0.70',
  goal_met: ratio >= 0.7,
  distinct_points_in_database_after_run: stored.pointsStored ?? null,
  failed_requests: runs.reduce((n, r) => n + r.result.non2xx + r.result.errors, 0),
  runs: runs.map((r) => ({ variant: r.variant, points_per_second: Math.round(r.result.requestsPerSecond * POINTS_PER_PAYLOAD), p50_ms: r.result.latencyP50Ms, p99_ms: r.result.latencyP99Ms })),
});
