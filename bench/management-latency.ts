/**
 * Management API latency of the shipped server (issue 18): create and revoke of API keys
 * against the built `rekey server` started as the README starts it (bench/support/shipped-server.ts:
 * default flags, its own process), on SQLite (the default data directory) and on PostgreSQL
 * (REKEY_DATABASE_URL pointing at a fresh database of this run, bench/support/bench-postgres.ts,
 * with the server's own commit settings). The load generator is this process. Goals: create and
 * revoke p99 ≤ 5 ms on PostgreSQL and on SQLite, judged on the median and the worst round.
 *
 * Each operation is one sequential request (create key i, then revoke key i, so the org stays
 * under its 50-key limit), timed from send to full response by the client. Two references are
 * measured in the same run: the machine's floor, a bare node:http server in its own process
 * answering a constant, and `GET /healthz` of the same rekey server (HTTP + Fastify alone, so
 * the ratios show what auth + the store add). On PostgreSQL a third reference: its durable
 * commit floor, one autocommitted single-row INSERT at a time from this process over one
 * connection to the same database — one WAL flush, the least a durable create or revoke can
 * wait for (the server's commit settings are PostgreSQL's defaults, `synchronous_commit=on`).
 * Rounds alternate floor → commit floor → SQLite server → PostgreSQL server, every round is
 * printed with the 1-minute load average, and the load average at the start and the end.
 *
 * The client is node:http with one keep-alive connection per server, not fetch: undici's fetch
 * allocates enough that its own GC pauses showed up in the p99. The servers' CPU per
 * create+revoke pair (read from /proc) is printed too: on a shared, busy machine latency mostly
 * measures waiting for a CPU, CPU time does not.
 *
 * Usage: node --import tsx bench/management-latency.ts [--ops 200] [--rounds 5] [--dialect sqlite|postgres]
 *   [--cpu-prof DIR]  run the servers under `node --cpu-prof` and print where their CPU went
 * Writes bench/results/management-latency.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { writeBenchResult, type BenchFigure } from './support/bench-result.js';
import { createBenchDatabase, type BenchDatabase } from './support/bench-postgres.js';
import { mainThreadProfile, monotonicMicros, summariseProfile, type SampleWindow } from './support/cpu-profile.js';
import { processCpuMicros } from './support/process-cpu.js';
import { startShippedServer, type ShippedServer } from './support/shipped-server.js';
import { keepAliveClient, type Answer } from './support/keep-alive-client.js';

const GOAL_P99_MS = 5;

interface Stats {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { n: sorted.length, p50_ms: round(at(0.5)), p99_ms: round(at(0.99)), max_ms: round(sorted[sorted.length - 1]!) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const client = (base: string) => keepAliveClient(base, 1);

/** PostgreSQL's durable commit floor: `ops` autocommitted single-row INSERTs, one at a time, each timed. */
async function commitFloor(db: pg.Client, ops: number, from: number): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < ops; i++) {
    const start = process.hrtime.bigint();
    await db.query('INSERT INTO bench_commit_floor (n) VALUES ($1)', [from + i]);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return stats(samples);
}

async function timed(fn: () => Promise<Answer>, expectStatus: number): Promise<{ ms: number; answer: Answer }> {
  const start = process.hrtime.bigint();
  const answer = await fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (answer.status !== expectStatus) throw new Error(`expected ${expectStatus}, got ${answer.status}: ${answer.body.slice(0, 300)}`);
  return { ms, answer };
}

/** The machine's floor: a bare node:http server in its own process, answering a constant. */
function startFloor(): Promise<{ url: string; stop: () => void }> {
  const source =
    "require('node:http').createServer((q, s) => s.end('{\"status\":\"ok\"}')).listen(0, '127.0.0.1', function () { console.log('http://127.0.0.1:' + this.address().port); });";
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve({ url: chunk.toString('utf8').trim(), stop: () => child.kill('SIGTERM') }));
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
}

interface Target {
  dialect: 'sqlite' | 'postgres';
  server: ShippedServer;
  database?: BenchDatabase;
  http: ReturnType<typeof client>;
  headers: Record<string, string>;
  next: number;
}

async function startTarget(dialect: 'sqlite' | 'postgres', profileDir: string | undefined): Promise<Target> {
  const database = dialect === 'postgres' ? await createBenchDatabase() : undefined;
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, dialect)}`];
  const server = await startShippedServer({ nodeArgs, ...(database === undefined ? {} : { env: { REKEY_DATABASE_URL: database.url } }) });
  if (server.appKey === '') throw new Error(`the ${dialect} server did not print an application key on its first start`);
  return {
    dialect,
    server,
    ...(database === undefined ? {} : { database }),
    http: client(server.url),
    headers: { 'dd-api-key': server.apiKey, 'dd-application-key': server.appKey },
    next: 0,
  };
}

/** One create (201, the new key's id) then its revoke (204), each timed. */
async function createThenRevoke(target: Target): Promise<{ create: number; revoke: number }> {
  const body = JSON.stringify({ data: { type: 'api_keys', attributes: { name: `bench ${target.next++}` } } });
  const created = await timed(
    () => target.http.send('/api/v2/api_keys', { method: 'POST', headers: { ...target.headers, 'content-type': 'application/json' }, body }),
    201,
  );
  const id = (JSON.parse(created.answer.body) as { data: { id: string } }).data.id;
  const revoked = await timed(() => target.http.send(`/api/v2/api_keys/${id}`, { method: 'DELETE', headers: target.headers }), 204);
  return { create: created.ms, revoke: revoked.ms };
}

interface TargetRound {
  healthz: Stats;
  create: Stats;
  revoke: Stats;
  /** Server CPU (user + system) per healthz + create + revoke cycle. */
  server_cpu_ms_per_cycle: number;
}

async function measureTarget(target: Target, ops: number): Promise<TargetRound> {
  const healthz: number[] = [];
  const creates: number[] = [];
  const revokes: number[] = [];
  const cpuBefore = processCpuMicros(target.server.pid);
  for (let i = 0; i < ops; i++) {
    healthz.push((await timed(() => target.http.send('/healthz'), 200)).ms);
    const { create, revoke } = await createThenRevoke(target);
    creates.push(create);
    revokes.push(revoke);
  }
  const cpuMs = (processCpuMicros(target.server.pid) - cpuBefore) / 1000;
  return { healthz: stats(healthz), create: stats(creates), revoke: stats(revokes), server_cpu_ms_per_cycle: Math.round((cpuMs / ops) * 1000) / 1000 };
}

const { values } = parseArgs({
  options: { ops: { type: 'string', default: '200' }, rounds: { type: 'string', default: '5' }, dialect: { type: 'string' }, 'cpu-prof': { type: 'string' } },
});
const ops = Number(values.ops);
const roundCount = Number(values.rounds);
const profileDir = values['cpu-prof'];
const dialects = (['sqlite', 'postgres'] as const).filter((d) => values.dialect === undefined || d === values.dialect);
const loadStart = loadavg();
const formatLoad = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');
console.log(`load average at start (1, 5, 15 min): ${formatLoad(loadStart)} on ${cpus().length} CPUs (other engineers' tests may share this machine)`);

const floor = await startFloor();
const floorHttp = client(floor.url);
const targets: Target[] = [];
const rounds: Array<{ round: number; floor: Stats; commitFloor?: Stats; load1: number; targets: Record<string, TargetRound> }> = [];
let window: SampleWindow | undefined;
let commitDb: pg.Client | undefined;
let committed = 0;
try {
  for (const dialect of dialects) targets.push(await startTarget(dialect, profileDir));
  const postgresDatabase = targets.find((t) => t.dialect === 'postgres')?.database;
  if (postgresDatabase !== undefined) {
    commitDb = new pg.Client({ connectionString: postgresDatabase.url });
    await commitDb.connect();
    await commitDb.query('CREATE TABLE bench_commit_floor (n bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    await commitFloor(commitDb, 50, committed); // warm-up
    committed += 50;
  }
  // Warm-up, not counted: JIT on both sides, connection pools, page caches.
  for (let i = 0; i < 50; i++) await timed(() => floorHttp.send('/'), 200);
  for (const target of targets) for (let i = 0; i < 50; i++) await createThenRevoke(target);

  console.log(`${ops} sequential operations of each kind per round; ms`);
  console.log(
    `round  floor p99  ${commitDb === undefined ? '' : 'commit floor p50/p99  '}` +
      targets.map((t) => `${t.dialect}: healthz p99  create p50/p99  revoke p50/p99  cpu ms/cycle`).join('  |  ') +
      '  load(1m)',
  );
  const fromMicros = monotonicMicros();
  for (let round = 1; round <= roundCount; round++) {
    const floorSamples: number[] = [];
    for (let i = 0; i < ops; i++) floorSamples.push((await timed(() => floorHttp.send('/'), 200)).ms);
    const commitStats = commitDb === undefined ? undefined : await commitFloor(commitDb, ops, committed);
    committed += ops;
    const measured: Record<string, TargetRound> = {};
    for (const target of targets) measured[target.dialect] = await measureTarget(target, ops);
    const floorStats = stats(floorSamples);
    rounds.push({ round, floor: floorStats, ...(commitStats === undefined ? {} : { commitFloor: commitStats }), load1: loadavg()[0]!, targets: measured });
    const cells = targets.map((t) => {
      const m = measured[t.dialect]!;
      return `${t.dialect}: ${String(m.healthz.p99_ms).padStart(7)}  ${`${m.create.p50_ms}/${m.create.p99_ms}`.padStart(14)}  ${`${m.revoke.p50_ms}/${m.revoke.p99_ms}`.padStart(14)}  ${String(m.server_cpu_ms_per_cycle).padStart(6)}`;
    });
    const commitCell = commitStats === undefined ? '' : `${`${commitStats.p50_ms}/${commitStats.p99_ms}`.padStart(20)}  `;
    console.log(`${String(round).padEnd(6)} ${String(floorStats.p99_ms).padStart(9)}  ${commitCell}${cells.join('  |  ')}  ${loadavg()[0]!.toFixed(2)}`);
  }
  window = { fromMicros, toMicros: monotonicMicros() };
} finally {
  await commitDb?.end();
  floorHttp.close();
  floor.stop();
  for (const target of targets) {
    target.http.close();
    await target.server.stop();
    await target.database?.drop();
  }
}
const loadEnd = loadavg();
console.log(`load average at end (1, 5, 15 min): ${formatLoad(loadEnd)}`);

const figures: BenchFigure[] = [
  { name: 'bare node:http server (own process) p99, median round (machine floor)', value: median(rounds.map((r) => r.floor.p99_ms)), unit: 'ms' },
];
const commitFloors = rounds.flatMap((r) => (r.commitFloor === undefined ? [] : [r.commitFloor]));
if (commitFloors.length > 0) {
  figures.push({
    name: 'PostgreSQL durable commit floor p50 (one autocommitted INSERT, same database), median round',
    value: median(commitFloors.map((c) => c.p50_ms)),
    unit: 'ms',
  });
  figures.push({
    name: 'PostgreSQL durable commit floor p99, median round',
    value: median(commitFloors.map((c) => c.p99_ms)),
    unit: 'ms',
    goal: `≤ ${GOAL_P99_MS} ms for the goal to be reachable`,
    met: median(commitFloors.map((c) => c.p99_ms)) <= GOAL_P99_MS,
  });
  figures.push({ name: 'PostgreSQL durable commit floor p99, worst round', value: Math.max(...commitFloors.map((c) => c.p99_ms)), unit: 'ms' });
}
const summary: Record<string, unknown> = {};
for (const target of targets) {
  const of = (pick: (r: TargetRound) => number) => rounds.map((r) => pick(r.targets[target.dialect]!));
  const name = target.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite';
  figures.push({ name: `${name} /healthz p99, median round (same server's HTTP + Fastify)`, value: median(of((r) => r.healthz.p99_ms)), unit: 'ms' });
  for (const op of ['create', 'revoke'] as const) {
    const p99s = of((r) => r[op].p99_ms);
    const medianP99 = median(p99s);
    const worstP99 = Math.max(...p99s);
    console.log(
      `${name} ${op}: p50 median ${median(of((r) => r[op].p50_ms))} ms; p99 median ${medianP99} ms, worst round ${worstP99} ms — goal p99 ≤ ${GOAL_P99_MS} ms ${medianP99 <= GOAL_P99_MS && worstP99 <= GOAL_P99_MS ? 'met' : 'NOT met'}`,
    );
    figures.push({ name: `${name} ${op} p50, median round`, value: median(of((r) => r[op].p50_ms)), unit: 'ms' });
    figures.push({ name: `${name} ${op} p99, median round`, value: medianP99, unit: 'ms', goal: `≤ ${GOAL_P99_MS} ms`, met: medianP99 <= GOAL_P99_MS });
    figures.push({ name: `${name} ${op} p99, worst round`, value: worstP99, unit: 'ms', goal: `≤ ${GOAL_P99_MS} ms`, met: worstP99 <= GOAL_P99_MS });
    figures.push({
      name: `${name} ${op} p99 / bare floor p99, median round`,
      value: Number(median(rounds.map((r) => r.targets[target.dialect]![op].p99_ms / r.floor.p99_ms)).toFixed(1)),
      unit: 'x',
    });
    if (target.dialect === 'postgres' && commitFloors.length > 0) {
      figures.push({
        name: `${name} ${op} p99 / durable commit floor p99, median round`,
        value: Number(median(rounds.map((r) => r.targets[target.dialect]![op].p99_ms / r.commitFloor!.p99_ms)).toFixed(2)),
        unit: 'x',
      });
    }
  }
  figures.push({ name: `${name} server CPU per healthz + create + revoke`, value: median(of((r) => r.server_cpu_ms_per_cycle)), unit: 'ms' });
  summary[target.dialect] = { server_pid: target.server.pid };
}
figures.push({ name: 'load average (1 min) at start', value: loadStart[0]!, unit: '' });
figures.push({ name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' });

const tables = [
  {
    title: 'Every round (floor first, then each server; p50/p99 ms)',
    columns: [
      'round',
      'floor p99',
      ...(commitFloors.length > 0 ? ['PostgreSQL commit floor'] : []),
      ...targets.flatMap((t) => [`${t.dialect} healthz p99`, `${t.dialect} create`, `${t.dialect} revoke`, `${t.dialect} CPU ms/cycle`]),
      'load (1 min)',
    ],
    rows: rounds.map((r) => [
      r.round,
      r.floor.p99_ms,
      ...(r.commitFloor === undefined ? [] : [`${r.commitFloor.p50_ms} / ${r.commitFloor.p99_ms}`]),
      ...targets.flatMap((t) => {
        const m = r.targets[t.dialect]!;
        return [m.healthz.p99_ms, `${m.create.p50_ms} / ${m.create.p99_ms}`, `${m.revoke.p50_ms} / ${m.revoke.p99_ms}`, m.server_cpu_ms_per_cycle];
      }),
      Number(r.load1.toFixed(2)),
    ]),
    note: `${ops} sequential operations of each kind per round, one keep-alive connection per server; the servers are the built dist/cli/main.js with default flags.`,
  },
];

if (profileDir !== undefined && window !== undefined) {
  for (const target of targets) {
    const dir = join(profileDir, target.dialect);
    mkdirSync(dir, { recursive: true });
    // The main thread's: a server's worker threads (the relay's counting worker) write their own.
    if (!readdirSync(dir).some((name) => name.endsWith('.cpuprofile'))) continue;
    const profile = summariseProfile(mainThreadProfile(dir), window);
    console.log(`\n${target.dialect} server CPU during the rounds: ${profile.busyMs} ms busy`);
    for (const origin of profile.origins.slice(0, 8))
      console.log(`  ${origin.origin.padEnd(24)} ${String(origin.selfMs).padStart(8)} ms  ${(origin.share * 100).toFixed(1)} %`);
    for (const fn of profile.functions.slice(0, 25)) console.log(`  ${(fn.share * 100).toFixed(1).padStart(5)} %  ${fn.name}`);
  }
}

const file = writeBenchResult('management-latency', {
  figures,
  tables,
  details: { ops_per_round: ops, rounds: roundCount, cpus: cpus().length, load_start: loadStart, load_end: loadEnd, every_round: rounds, servers: summary },
});
console.log(`wrote ${file}`);
