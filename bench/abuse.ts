/**
 * The intake under abuse (issue 15 row 1): while one API-key holder sends the worst bodies
 * it can — 61 KB of gzip expanding to 62,914,559 bytes of `{},` (v1 JSON) and 5 KB expanding
 * to 5 MiB of empty protobuf series (v2) — several at once, do `/healthz` and a legitimate
 * client's intake requests stay fast? Goal: their p99 stays within 3x of the same run's
 * unloaded p99.
 *
 * The server is the built one, started as the README does (`node dist/cli/main.js server`,
 * its own process, embedded SQLite in a temporary directory, `--log-level warn`). The
 * abuser is another process (its own key, `ABUSE_CONCURRENCY` requests in flight, bounded by
 * count and time per round); the measuring client is this process, with a second key,
 * alternating a `/healthz` GET and a 10-series v1 POST, one at a time. Rounds alternate
 * unloaded / loaded so machine noise hits both; every round is printed, then the ratios of
 * the pooled p99s.
 *
 * The server's refused-payload limit (5/s, burst 50 per key) soon answers such a key 429
 * before its body is read. `--abuser-keys N` spreads the bombs over N keys of the org, so
 * each stays under that limit and every bomb is decompressed and counted: that measures the
 * work caps alone.
 *
 * Usage: npm run build && node --import tsx bench/abuse.ts [--rounds 3] [--round-seconds 6] [--concurrency 3] [--abuser-keys 1]
 * Writes bench/results/abuse.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { percentile } from './intake-bench-support.js';
import { freePort } from '../test/support/free-port.js';
import { writeBenchResult } from './support/bench-result.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'round-seconds': { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '3' },
    'abuser-keys': { type: 'string', default: '1' },
  },
});
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values['round-seconds']) * 1000;
const CONCURRENCY = Number(values.concurrency);
const ABUSER_KEYS = Number(values['abuser-keys']);
/** Most bombs one loaded round may send (the abuse is bounded in count as well as time). */
const MAX_BOMBS_PER_ROUND = 500;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const main = join(repoRoot, 'dist', 'cli', 'main.js');
if (!existsSync(join(repoRoot, 'dist', 'intake', 'payload-caps.js'))) {
  process.stderr.write('bench/abuse: dist/ is missing or older than the intake work caps; run `npm run build` first\n');
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'rekey-abuse-'));
const bombs = {
  json: join(work, 'json-bomb.gz'),
  proto: join(work, 'proto-bomb.gz'),
};
{
  const decoded = 62_914_560 - 1; // one byte under the v1 decompressed limit
  const body = Buffer.alloc(decoded, '{},');
  Buffer.from('{"series":[').copy(body, 0);
  Buffer.from('{}]}').copy(body, decoded - 4);
  writeFileSync(bombs.json, gzipSync(body, { level: 9 }));
  writeFileSync(bombs.proto, gzipSync(Buffer.alloc(5 * 1024 * 1024 - 2, Buffer.from([0x0a, 0x00])), { level: 9 }));
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server: ChildProcess = spawn(process.execPath, [main, 'server', '--data', join(work, 'data'), '--port', String(port), '--json', '--log-level', 'warn'], {
  cwd: work,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let serverOut = '';
server.stdout!.on('data', (chunk) => (serverOut += chunk));
const stopServer = () =>
  new Promise<void>((resolve) => {
    if (server.exitCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGTERM');
    setTimeout(() => server.kill('SIGKILL'), 20_000).unref();
  });

interface Credentials {
  api_key: { key: string };
  app_key: { key: string };
}

async function waitForServer(): Promise<Credentials> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
    const line = serverOut.split('\n')[0];
    if (line && serverOut.includes('\n')) {
      try {
        const response = await fetch(`${url}/healthz`);
        await response.arrayBuffer();
        if (response.status === 200) return JSON.parse(line) as Credentials;
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) throw new Error('the server did not start within 120 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The abuser: another process, its own key, CONCURRENCY bombs in flight until the count or the time is up. */
const ABUSER = `
const { readFileSync } = require('node:fs');
const bodies = [
  { path: '/api/v1/series', type: 'application/json', body: readFileSync(process.env.JSON_BOMB) },
  { path: '/api/v2/series', type: 'application/x-protobuf', body: readFileSync(process.env.PROTO_BOMB) },
];
const until = Date.now() + Number(process.env.ROUND_MS);
let left = Number(process.env.MAX_BOMBS);
const statuses = {};
const keys = process.env.KEYS.split(',');
let next = 0;
async function worker() {
  while (Date.now() < until && left-- > 0) {
    const b = bodies[next++ % bodies.length];
    let status;
    try {
      const r = await fetch(process.env.URL + b.path, { method: 'POST', headers: { 'dd-api-key': keys[next % keys.length], 'content-type': b.type, 'content-encoding': 'gzip' }, body: b.body });
      await r.arrayBuffer();
      status = r.status;
    } catch (e) { status = e.cause?.code ?? 'error'; }
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
}
Promise.all(Array.from({ length: Number(process.env.CONCURRENCY) }, worker)).then(() => console.log(JSON.stringify(statuses)));
`;

function startAbuser(keys: string[]): { done: Promise<Record<string, number>> } {
  const child = spawn(process.execPath, ['-e', ABUSER], {
    // The key goes through the environment, never the argument list.
    env: {
      ...process.env,
      URL: url,
      KEYS: keys.join(','),
      JSON_BOMB: bombs.json,
      PROTO_BOMB: bombs.proto,
      ROUND_MS: String(ROUND_MS),
      MAX_BOMBS: String(MAX_BOMBS_PER_ROUND),
      CONCURRENCY: String(CONCURRENCY),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  return { done: new Promise((resolve) => child.once('exit', () => resolve(out.trim() ? (JSON.parse(out.trim()) as Record<string, number>) : {}))) };
}

async function timed(request: () => Promise<Response>, expect: number): Promise<number> {
  const started = performance.now();
  const response = await request();
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (response.status !== expect) throw new Error(`expected ${expect}, got ${response.status}`);
  return ms;
}

function legitBody(): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    series: Array.from({ length: 10 }, (_, i) => ({
      metric: `legit.metric.${i}`,
      points: [[now, i]],
      type: 'gauge',
      host: 'legit-host',
      tags: ['env:bench', `i:${i}`],
    })),
  });
}

interface Round {
  kind: 'unloaded' | 'loaded';
  healthz: number[];
  intake: number[];
  abuse?: Record<string, number>;
}

async function measureRound(kind: Round['kind'], legitKey: string, abuserKeys: string[]): Promise<Round> {
  const abuser = kind === 'loaded' ? startAbuser(abuserKeys) : undefined;
  const round: Round = { kind, healthz: [], intake: [] };
  const until = Date.now() + ROUND_MS;
  while (Date.now() < until) {
    round.healthz.push(await timed(() => fetch(`${url}/healthz`), 200));
    round.intake.push(
      await timed(
        () => fetch(`${url}/api/v1/series`, { method: 'POST', headers: { 'dd-api-key': legitKey, 'content-type': 'application/json' }, body: legitBody() }),
        202,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (abuser) round.abuse = await abuser.done;
  return round;
}

const fmt = (ms: number) => ms.toFixed(1);

try {
  const credentials = await waitForServer();
  const abuserKey = credentials.api_key.key;
  const createKey = async (name: string): Promise<string> => {
    const created = await fetch(`${url}/api/v2/api_keys`, {
      method: 'POST',
      headers: { 'dd-api-key': abuserKey, 'dd-application-key': credentials.app_key.key, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { type: 'api_keys', attributes: { name } } }),
    });
    if (created.status !== 201) throw new Error(`creating the key "${name}" answered ${created.status}`);
    return ((await created.json()) as { data: { attributes: { key: string } } }).data.attributes.key;
  };
  const legitKey = await createKey('legit client');
  const abuserKeys = [abuserKey];
  while (abuserKeys.length < ABUSER_KEYS) abuserKeys.push(await createKey(`abuser ${abuserKeys.length + 1}`));

  // Warm-up, unmeasured: the first run of each path compiles it.
  for (let i = 0; i < 20; i++) {
    await timed(() => fetch(`${url}/healthz`), 200);
    await timed(
      () => fetch(`${url}/api/v1/series`, { method: 'POST', headers: { 'dd-api-key': legitKey, 'content-type': 'application/json' }, body: legitBody() }),
      202,
    );
  }
  await (await import('node:fs/promises')).readFile(bombs.json).then((body) =>
    fetch(`${url}/api/v1/series`, {
      method: 'POST',
      headers: { 'dd-api-key': abuserKey, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    }).then((r) => r.arrayBuffer()),
  );

  process.stdout.write(
    `bench/abuse: server ${url}; ${ROUNDS} x (unloaded, loaded) rounds of ${ROUND_MS / 1000} s; abuser: ${CONCURRENCY} bombs in flight (≤ ${MAX_BOMBS_PER_ROUND}/round) over ${ABUSER_KEYS} key(s)\n`,
  );
  process.stdout.write('round  kind      healthz n  p50     p99     | intake n  p50     p99     | abuser answers\n');
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of ['unloaded', 'loaded'] as const) {
      const round = await measureRound(kind, legitKey, abuserKeys);
      rounds.push(round);
      process.stdout.write(
        `${String(r + 1).padEnd(6)} ${kind.padEnd(9)} ${String(round.healthz.length).padStart(5)}  ${fmt(percentile(round.healthz, 0.5)).padStart(6)}  ${fmt(percentile(round.healthz, 0.99)).padStart(6)}  | ${String(round.intake.length).padStart(5)}  ${fmt(percentile(round.intake, 0.5)).padStart(6)}  ${fmt(percentile(round.intake, 0.99)).padStart(6)}  | ${round.abuse ? JSON.stringify(round.abuse) : '-'}\n`,
      );
    }
  }
  const pooled = (kind: Round['kind'], what: 'healthz' | 'intake') => rounds.filter((r) => r.kind === kind).flatMap((r) => r[what]);
  const p99 = {
    healthzUnloaded: percentile(pooled('unloaded', 'healthz'), 0.99),
    healthzLoaded: percentile(pooled('loaded', 'healthz'), 0.99),
    intakeUnloaded: percentile(pooled('unloaded', 'intake'), 0.99),
    intakeLoaded: percentile(pooled('loaded', 'intake'), 0.99),
  };
  const healthzRatio = p99.healthzLoaded / p99.healthzUnloaded;
  const intakeRatio = p99.intakeLoaded / p99.intakeUnloaded;
  const abuse: Record<string, number> = {};
  for (const round of rounds) for (const [status, n] of Object.entries(round.abuse ?? {})) abuse[status] = (abuse[status] ?? 0) + n;
  process.stdout.write(
    `pooled p99: /healthz ${fmt(p99.healthzUnloaded)} ms unloaded, ${fmt(p99.healthzLoaded)} ms loaded: ratio ${healthzRatio.toFixed(2)}x\n` +
      `pooled p99: intake   ${fmt(p99.intakeUnloaded)} ms unloaded, ${fmt(p99.intakeLoaded)} ms loaded: ratio ${intakeRatio.toFixed(2)}x\n` +
      `abuser answers over all loaded rounds: ${JSON.stringify(abuse)}\n`,
  );
  const file = writeBenchResult('abuse', {
    figures: [
      { name: '/healthz p99, unloaded', value: p99.healthzUnloaded, unit: 'ms' },
      { name: '/healthz p99 while one key holder sends decompression bombs', value: p99.healthzLoaded, unit: 'ms' },
      { name: '/healthz p99 loaded / unloaded (same run)', value: healthzRatio, unit: 'x', goal: '≤ 3x', met: healthzRatio <= 3 },
      { name: 'legit intake p99, unloaded', value: p99.intakeUnloaded, unit: 'ms' },
      { name: 'legit intake p99 while one key holder sends decompression bombs', value: p99.intakeLoaded, unit: 'ms' },
      { name: 'legit intake p99 loaded / unloaded (same run)', value: intakeRatio, unit: 'x', goal: '≤ 3x', met: intakeRatio <= 3 },
    ],
    details: {
      rounds: rounds.map((r) => ({
        kind: r.kind,
        healthz: { n: r.healthz.length, p50: percentile(r.healthz, 0.5), p99: percentile(r.healthz, 0.99) },
        intake: { n: r.intake.length, p50: percentile(r.intake, 0.5), p99: percentile(r.intake, 0.99) },
        ...(r.abuse ? { abuserAnswers: r.abuse } : {}),
      })),
      abuserAnswers: abuse,
      concurrency: CONCURRENCY,
      abuserKeys: ABUSER_KEYS,
      roundSeconds: ROUND_MS / 1000,
      bodies: '62,914,559 bytes of {}, gzipped (v1 JSON); 5 MiB of empty MetricSeries gzipped (v2 protobuf)',
    },
  });
  process.stdout.write(`wrote ${file}\n`);
} finally {
  await stopServer();
  rmSync(work, { recursive: true, force: true });
}
