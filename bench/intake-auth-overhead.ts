/**
 * Auth overhead at the intake: `POST /api/v2/series` with API-key verification vs the very
 * same routes and runtime with verification skipped (a bench-only IntakeAuth composed in
 * bench/intake-bench-server.ts; nothing in src/ can skip it).
 * Goal: ≤ 5% slower. Both are the full plugin storing into SQLite, each in its own process,
 * loaded by autocannon from this process; in each round both are loaded at the same time,
 * so drift and the machine's other load hit both alike.
 * The payload is one point, so the fixed per-request cost of verification is as visible as
 * it can be.
 *
 * Usage: node --import tsx bench/intake-auth-overhead.ts [--seconds 5] [--rounds 3] [--connections 10]
 * Writes bench/results/intake-auth-overhead.json.
 */
import { parseArgs } from 'node:util';
import { ApiKeyVerifier } from '../src/intake/api-key-verifier.js';
import { generateKey, last4 } from '../src/keys/key-format.js';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { CLI_ACTOR, SQLITE } from '../test/support/dialects.js';
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
    // Both variants under load at the same time: this machine's other load then weighs on
    // both alike, and the ratio reflects their relative cost.
    const [verified, unverified] = await Promise.all([
      load({ url: `${withAuth.url}/api/v2/series`, headers, bodies, connections, seconds }),
      load({ url: `${withoutAuth.url}/api/v2/series`, headers, bodies, connections, seconds }),
    ]);
    runs.push({ variant: 'verified', result: verified }, { variant: 'unverified', result: unverified });
  }
} finally {
  await withAuth.stop();
  await withoutAuth.stop();
}

/**
 * Supporting figure, same run: the CPU cost of one verification of a cached key (checksum,
 * HMAC, cache lookup), in-process, to set against the per-request time of the HTTP runs.
 */
async function verificationMicroseconds(): Promise<number> {
  const db = await SQLITE.createStore();
  try {
    const hasher = createKeyHasher(await db.store.deploymentSecret());
    const org = await db.store.createOrg('micro', CLI_ACTOR);
    await db.store.createApiKey(org.id, { name: 'micro', hash: hasher.hash(apiKey), last4: last4(apiKey) }, CLI_ACTOR);
    const verifier = new ApiKeyVerifier(db.store, hasher);
    await verifier.verify(apiKey);
    const n = 20_000;
    const started = performance.now();
    for (let i = 0; i < n; i++) await verifier.verify(apiKey);
    return ((performance.now() - started) / n) * 1000;
  } finally {
    await db.destroy();
  }
}
const verifyUs = await verificationMicroseconds();

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
  verification_cost_microseconds_per_request_in_process: Number(verifyUs.toFixed(2)),
  verification_cost_share_of_verified_request_time: Number(((verifyUs / 1e6) * verified / connections).toFixed(5)),
  runs: runs.map((r) => ({ variant: r.variant, rps: Math.round(r.result.requestsPerSecond), p50_ms: r.result.latencyP50Ms, p99_ms: r.result.latencyP99Ms })),
});
