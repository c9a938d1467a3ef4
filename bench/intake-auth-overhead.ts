/**
 * What API-key verification costs the intake (issue 18), three ways, each printed:
 *
 *  1. In-process: µs of one verification of a cached, valid key (`ApiKeyVerifier.verify`:
 *     format and checksum, HMAC-SHA256, cache lookup), averaged over 200,000 calls after
 *     50,000 that warm the JIT up, as a long-running server's are. (Until 2026-12-01 it was
 *     20,000 calls after 2,000: 7.8 µs at load 1.8, where the warmed figure is ~2.6 µs even at
 *     load 6–7 — the short run measured code not yet optimised.)
 *  2. The real server: the built `rekey server` as the README starts it
 *     (bench/support/shipped-server.ts) under `node --cpu-prof`, loaded with 1-point v2 JSON
 *     (so the fixed per-request cost of verification is as visible as it can be). Its CPU per
 *     request comes from /proc; verification's share of it is (1) ÷ that, and, from the
 *     profile, the time spent in or under the intake's `authenticate` hook (which also holds
 *     the per-address and per-key rate limits).
 *  3. Interleaved A/B: the intake with verification (a cache hit on every request) against the
 *     very same routes, runtime and intake auth with the key's verification alone skipped
 *     (bench/intake-bench-server.ts `intake-noauth` replaces the verifier's answer there;
 *     nothing in src/ can skip it). Until 2026-12-01 the skipped side had no intake auth at
 *     all — no rate limits, key limits or usage counting — so the A/B charged all of those to
 *     verification. Rounds alternating
 *     unverified → verified, each printed, judged on the median and the worst round.
 *
 * Goal: verification ≤ 5 % of the request (share ≤ 0.05; A/B ratio ≥ 0.95).
 *
 * Usage: node --import tsx bench/intake-auth-overhead.ts [--seconds 5] [--rounds 5] [--connections 10]
 * Writes bench/results/intake-auth-overhead.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyVerifier } from '../src/intake/api-key-verifier.js';
import { generateKey, last4 } from '../src/keys/key-format.js';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { CLI_ACTOR, SQLITE } from '../test/support/dialects.js';
import { alternatingRounds, roundsTable } from './support/alternating-rounds.js';
import { writeBenchResult } from './support/bench-result.js';
import { inclusiveShare, mainThreadProfile, monotonicMicros } from './support/cpu-profile.js';
import { processCpuMicros } from './support/process-cpu.js';
import { roundOptions } from './support/round-options.js';
import { startShippedServer } from './support/shipped-server.js';
import { load, startBenchServer } from './intake-bench-support.js';

const { seconds, rounds, connections } = roundOptions({ connections: 10 });

const loadStart = loadavg();
const now = Math.floor(Date.now() / 1000);
const bodies = Array.from({ length: 1000 }, (_, i) =>
  JSON.stringify({
    series: [{ metric: 'bench.auth', type: 3, points: [{ timestamp: now - 60 - i, value: i }], resources: [{ name: 'bench-host', type: 'host' }] }],
  }),
);
const json = { 'content-type': 'application/json' };

/** 1. One verification of a cached valid key, in this process. */
async function verificationMicroseconds(apiKey: string): Promise<number> {
  const db = await SQLITE.createStore();
  try {
    const hasher = createKeyHasher(await db.store.deploymentSecret());
    const org = await db.store.createOrg('micro', CLI_ACTOR);
    await db.store.createApiKey(org.id, { name: 'micro', hash: hasher.hash(apiKey), last4: last4(apiKey) }, CLI_ACTOR);
    const verifier = new ApiKeyVerifier(db.store, hasher);
    await verifier.verify(apiKey); // loads it into the cache
    const n = 200_000;
    for (let i = 0; i < 50_000; i++) await verifier.verify(apiKey); // warm-up (JIT)
    const started = performance.now();
    for (let i = 0; i < n; i++) await verifier.verify(apiKey);
    return ((performance.now() - started) / n) * 1000;
  } finally {
    await db.destroy();
  }
}
const verifyUs = await verificationMicroseconds(generateKey('api'));
process.stdout.write(
  `load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n1. in-process: ${verifyUs.toFixed(2)} µs per verification of a cached valid key\n`,
);

/** 2. The real server's CPU per request, and the profile's share under `authenticate`. */
const profileDir = mkdtempSync(join(tmpdir(), 'rekey-prof-auth-'));
const shipped = await startShippedServer({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
let serverCpuPerRequest: number;
let window: { fromMicros: number; toMicros: number };
try {
  const headers = { ...json, 'dd-api-key': shipped.apiKey };
  await load({ url: `${shipped.url}/api/v2/series`, headers, bodies, connections, seconds: 2 });
  const cpuBefore = processCpuMicros(shipped.pid);
  const fromMicros = monotonicMicros();
  const result = await load({ url: `${shipped.url}/api/v2/series`, headers, bodies, connections, seconds });
  window = { fromMicros, toMicros: monotonicMicros() };
  serverCpuPerRequest = (processCpuMicros(shipped.pid) - cpuBefore) / (result.ok + result.non2xx);
} finally {
  await shipped.stop();
}
const profileFile = mainThreadProfile(profileDir);
const authenticateShare = inclusiveShare(profileFile, (frame) => frame.functionName === 'authenticate' && frame.url.includes('intake-auth'), window);
rmSync(profileDir, { recursive: true, force: true });
const verifyShare = verifyUs / serverCpuPerRequest;
process.stdout.write(
  `2. real server, 1-point v2 JSON: ${serverCpuPerRequest.toFixed(1)} µs CPU per request; verification ${(verifyShare * 100).toFixed(2)} % of it; in or under authenticate (profile) ${(authenticateShare * 100).toFixed(2)} %\n`,
);

/** 3. Interleaved A/B, bench servers with and without verification. */
const apiKey = generateKey('api');
const env = { ...process.env, REKEY_BENCH_API_KEY: apiKey };
const verified = await startBenchServer('intake', env);
const unverified = await startBenchServer('intake-noauth', env);
let ab;
try {
  process.stdout.write('3. interleaved A/B (floor = verification skipped, server = verified):\n');
  ab = await alternatingRounds({
    rounds,
    seconds,
    pointsPerRequest: 1,
    runFloor: (s) => load({ url: `${unverified.url}/api/v2/series`, headers: { ...json, 'dd-api-key': apiKey }, bodies, connections, seconds: s }),
    runServer: (s) => load({ url: `${verified.url}/api/v2/series`, headers: { ...json, 'dd-api-key': apiKey }, bodies, connections, seconds: s }),
  });
} finally {
  await verified.stop();
  await unverified.stop();
}
const loadEnd = loadavg();

writeBenchResult('intake-auth-overhead', {
  figures: [
    {
      name: 'in-process verification of a cached valid key (checksum, HMAC-SHA256, cache lookup), JIT warmed',
      value: Number(verifyUs.toFixed(2)),
      unit: 'µs',
    },
    { name: 'real server CPU per request, 1-point v2 JSON', value: Number(serverCpuPerRequest.toFixed(1)), unit: 'µs' },
    {
      name: 'verification share of the real server request CPU',
      value: Number((verifyShare * 100).toFixed(2)),
      unit: '%',
      goal: '≤ 5 %',
      met: verifyShare <= 0.05,
    },
    {
      name: 'real server: profile time in or under the intake authenticate hook (verification + rate limits)',
      value: Number((authenticateShare * 100).toFixed(2)),
      unit: '%',
    },
    { name: 'A/B: verified ÷ unverified requests/s, median round', value: Number(ab.median.toFixed(3)), unit: 'x', goal: '≥ 0.95', met: ab.median >= 0.95 },
    { name: 'A/B: the same, worst round', value: Number(ab.worst.toFixed(3)), unit: 'x', goal: '≥ 0.95', met: ab.worst >= 0.95 },
    { name: 'load average (1 min) at start', value: loadStart[0]!, unit: '' },
    { name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' },
  ],
  tables: [{ ...roundsTable(ab, 1), title: 'A/B rounds (floor = verification skipped, server = verified; points = requests)' }],
});
