/**
 * Auth overhead at the intake: `POST /api/v2/series` with API-key verification vs the very
 * same handler with verification skipped (the bench-only `benchSkipVerification` option).
 * Goal: ≤ 5% slower. Both are the full plugin storing into SQLite, each in its own process,
 * loaded by autocannon from this process; runs alternate (A B A B …) so drift hits both.
 * The payload is one point, so the fixed per-request cost of verification is as visible as
 * it can be.
 *
 * Usage: node --import tsx bench/intake-auth-overhead.ts [--seconds 5] [--rounds 3] [--connections 10]
 * Writes bench/results/intake-auth-overhead.json.
 */
import { parseArgs } from 'node:util';
import { generateKey } from '../src/keys/key-format.js';
import { load, startBenchServer, writeResult, type LoadResult } from './intake-bench-support.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '10' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const apiKey = generateKey('api');
const env = { ...process.env, REKEY_BENCH_API_KEY: apiKey };
const withAuth = await startBenchServer('intake', env);
const withoutAuth = await startBenchServer('intake-noauth', env);
const now = Math.floor(Date.now() / 1000);
const bodies = Array.from({ length: 1000 }, (_, i) =>
  JSON.stringify({ series: [{ metric: 'bench.auth', type: 3, points: [{ timestamp: now - 60 - i, value: i }], resources: [{ name: 'bench-host', type: 'host' }] }] }),
);
const headers = { 'content-type': 'application/json', 'dd-api-key': apiKey };

const runs: Array<{ variant: 'verified' | 'unverified'; result: LoadResult }> = [];
try {
  // warm-up
  await load({ url: `${withAuth.url}/api/v2/series`, headers, bodies, connections, seconds: 2 });
  await load({ url: `${withoutAuth.url}/api/v2/series`, headers, bodies, connections, seconds: 2 });
  for (let round = 0; round < rounds; round++) {
    runs.push({ variant: 'verified', result: await load({ url: `${withAuth.url}/api/v2/series`, headers, bodies, connections, seconds }) });
    runs.push({ variant: 'unverified', result: await load({ url: `${withoutAuth.url}/api/v2/series`, headers, bodies, connections, seconds }) });
  }
} finally {
  await withAuth.stop();
  await withoutAuth.stop();
}

const mean = (variant: string) => {
  const picked = runs.filter((r) => r.variant === variant).map((r) => r.result.requestsPerSecond);
  return picked.reduce((a, b) => a + b, 0) / picked.length;
};
const verified = mean('verified');
const unverified = mean('unverified');
const failures = runs.reduce((n, r) => n + r.result.non2xx + r.result.errors, 0);
const slowdown = 1 - verified / unverified;
writeResult('intake-auth-overhead', {
  benchmark: 'intake-auth-overhead',
  at: new Date().toISOString(),
  config: { seconds, rounds, connections, payload: '1 point, v2 JSON, stored in SQLite' },
  verified_requests_per_second: Math.round(verified),
  unverified_requests_per_second: Math.round(unverified),
  ratio_verified_to_unverified: Number((verified / unverified).toFixed(4)),
  slowdown_percent: Number((slowdown * 100).toFixed(2)),
  goal: 'slowdown ≤ 5%',
  goal_met: slowdown <= 0.05,
  failed_requests: failures,
  runs: runs.map((r) => ({ variant: r.variant, rps: Math.round(r.result.requestsPerSecond), p50_ms: r.result.latencyP50Ms, p99_ms: r.result.latencyP99Ms })),
});
