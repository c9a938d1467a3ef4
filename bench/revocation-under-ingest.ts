/**
 * Revocation propagation across 3 shipped `rekey server` processes on one PostgreSQL while
 * each node ingests at half its capacity (issue 18). Goal: p99 ≤ 20 ms on every node, judged
 * on the median and the worst round. (bench/revocation-propagation.ts measures the same
 * without ingest load, against the older 50 ms goal.)
 *
 * The nodes are the built dist/cli/main.js as the README starts it (default flags, each its
 * own process and data directory) with REKEY_DATABASE_URL pointing at a fresh database of this
 * run (bench/support/bench-postgres.ts); node A initialises it, B and C join. Then, in order:
 *
 * 1. Capacity, with autocannon in this process (100-point v2 JSON, 20 connections per node):
 *    node A alone, then all three at once. A node's capacity is its share when all three are
 *    saturated together — on this 2-core machine three nodes do not each get the throughput
 *    of one node alone — so "half its capacity" is half of that share; both are printed.
 * 2. Load: bench/support/rate-limited-load.ts in its own process sends each node 50 % of its
 *    capacity (autocannon overallRate) for the whole measurement; the rates it achieved and
 *    its answers other than 202 are reported.
 * 3. Rounds of revocations: a key is created through node A's management API, used once on
 *    every node (202, so each node's cache holds it as active), revoked through node A, and
 *    every node is polled from the moment the revoke's response arrives until it answers 403.
 *    Polls carry an empty series (a node that still accepts the key answers 400 without a
 *    write). The round trip of such a poll while the key is valid is the sampling floor,
 *    measured in the same round under the same load. Every round is printed with the load.
 *
 * Usage: node --import tsx bench/revocation-under-ingest.ts [--rounds 5] [--revocations 40] [--seconds 5]
 * Writes bench/results/revocation-under-ingest.json.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { writeBenchResult, type BenchFigure } from './support/bench-result.js';
import { createBenchDatabase } from './support/bench-postgres.js';
import type { RateLimitedLoadResult, RateLimitedLoadSettings } from './support/rate-limited-load.js';
import { repoRoot, startShippedServer, type ShippedServer } from './support/shipped-server.js';
import { hundredPointBodies, load, percentile, type LoadResult } from './intake-bench-support.js';
import { keepAliveClient } from './support/keep-alive-client.js';

const GOAL_P99_MS = 20;
const POLL_LIMIT_MS = 6000;
const CAPACITY_CONNECTIONS = 20;
const LOAD_CONNECTIONS = 10;

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, revocations: { type: 'string', default: '40' }, seconds: { type: 'string', default: '5' } },
});
const roundCount = Number(values.rounds);
const perRound = Number(values.revocations);
const capacitySeconds = Number(values.seconds);
const names = ['A', 'B', 'C'] as const;
const formatLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

const client = (base: string) => keepAliveClient(base, 4);

const onePoint = () =>
  JSON.stringify({ series: [{ metric: 'bench.revocation.probe', type: 3, points: [{ timestamp: Math.floor(Date.now() / 1000), value: 1 }] }] });
const EMPTY_SERIES = '{"series":[]}';

/** Starts the load process; resolves once it is sending, with a function that stops it and returns what it achieved. */
async function startLoad(settings: RateLimitedLoadSettings): Promise<() => Promise<RateLimitedLoadResult[]>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/support/rate-limited-load.ts'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stdin.write(`${JSON.stringify(settings)}\n`);
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (!out.includes('started\n')) return;
      clearInterval(poll);
      resolve();
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`the load process exited with ${code}`));
    });
  });
  return () =>
    new Promise((resolve) => {
      child.once('exit', () =>
        resolve(
          out
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as RateLimitedLoadResult),
        ),
      );
      child.kill('SIGTERM');
    });
}

const loadStart = loadavg();
console.log(`load average at start (1, 5, 15 min): ${formatLoad(loadStart)} on ${cpus().length} CPUs (other engineers' tests may share this machine)`);
const database = await createBenchDatabase();
const nodes: ShippedServer[] = [];
const clients: Array<ReturnType<typeof client>> = [];
let stopLoad: (() => Promise<RateLimitedLoadResult[]>) | undefined;
let achieved: RateLimitedLoadResult[] = [];
const rounds: Array<{ round: number; perNode: Record<string, number[]>; pollFloor: number[]; load1: number; neverRevoked: number }> = [];
let capacityAlone: LoadResult;
let capacityTogether: LoadResult[];
try {
  const env = { REKEY_DATABASE_URL: database.url };
  nodes.push(await startShippedServer({ env }));
  nodes.push(...(await Promise.all([startShippedServer({ env, firstStart: false }), startShippedServer({ env, firstStart: false })])));
  const [a] = nodes as [ShippedServer, ShippedServer, ShippedServer];
  if (a.appKey === '') throw new Error('node A did not print an application key');
  const management = { 'dd-api-key': a.apiKey, 'dd-application-key': a.appKey };
  for (const node of nodes) clients.push(client(node.url));

  // 1. Capacity.
  const bodies = hundredPointBodies(500);
  const ingest = (node: ShippedServer, seconds: number) =>
    load({
      url: `${node.url}/api/v2/series`,
      headers: { 'content-type': 'application/json', 'dd-api-key': a.apiKey },
      bodies,
      connections: CAPACITY_CONNECTIONS,
      seconds,
    });
  await Promise.all(nodes.map((node) => ingest(node, 2))); // warm-up
  capacityAlone = await ingest(a, capacitySeconds);
  capacityTogether = await Promise.all(nodes.map((node) => ingest(node, capacitySeconds)));
  const perNodeCapacity = capacityTogether.reduce((sum, r) => sum + r.requestsPerSecond, 0) / nodes.length;
  const ratePerUrl = Math.max(1, Math.round(perNodeCapacity / 2));
  console.log(
    `capacity (100-point requests/s, ${CAPACITY_CONNECTIONS} connections per node): node A alone ${Math.round(capacityAlone.requestsPerSecond)}; ` +
      `all three at once ${capacityTogether.map((r) => Math.round(r.requestsPerSecond)).join(' + ')} → ${Math.round(perNodeCapacity)} per node`,
  );
  console.log(`load: ${ratePerUrl} requests/s (${ratePerUrl * 100} points/s) to each node from another process`);

  // 2. Load at half capacity, from another process.
  stopLoad = await startLoad({ urls: nodes.map((n) => n.url), apiKey: a.apiKey, ratePerUrl, connections: LOAD_CONNECTIONS });
  await new Promise((r) => setTimeout(r, 2000));

  // 3. Revocations.
  console.log('round  A p50/p99      B p50/p99      C p50/p99      poll floor p50/p99  load(1m)');
  for (let round = 1; round <= roundCount; round++) {
    const perNode: Record<string, number[]> = { A: [], B: [], C: [] };
    const pollFloor: number[] = [];
    let neverRevoked = 0;
    for (let i = 0; i < perRound; i++) {
      const created = await clients[0]!.send('/api/v2/api_keys', {
        method: 'POST',
        headers: { ...management, 'content-type': 'application/json' },
        body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: `revocation ${round}.${i}` } } }),
      });
      if (created.status !== 201) throw new Error(`create answered ${created.status}: ${created.body.slice(0, 300)}`);
      const { data } = JSON.parse(created.body) as { data: { id: string; attributes: { key: string } } };
      const key = data.attributes.key;
      const intake = (n: number, body: string) =>
        clients[n]!.send('/api/v2/series', { method: 'POST', headers: { 'content-type': 'application/json', 'dd-api-key': key }, body });
      for (let n = 0; n < nodes.length; n++) {
        const primed = await intake(n, onePoint());
        if (primed.status !== 202) throw new Error(`priming node ${names[n]} answered ${primed.status}`);
        const started = performance.now();
        if ((await intake(n, EMPTY_SERIES)).status !== 400) throw new Error('a poll with a valid key must answer 400');
        pollFloor.push(performance.now() - started);
      }
      const revoked = await clients[0]!.send(`/api/v2/api_keys/${data.id}`, { method: 'DELETE', headers: management });
      if (revoked.status !== 204) throw new Error(`revoke answered ${revoked.status}`);
      const revokedAt = performance.now();
      await Promise.all(
        nodes.map(async (_node, n) => {
          for (;;) {
            const { status } = await intake(n, EMPTY_SERIES);
            const elapsed = performance.now() - revokedAt;
            if (status === 403 || elapsed > POLL_LIMIT_MS) {
              if (status !== 403) neverRevoked += 1;
              perNode[names[n]!]!.push(elapsed);
              return;
            }
          }
        }),
      );
    }
    rounds.push({ round, perNode, pollFloor, load1: loadavg()[0]!, neverRevoked });
    const cell = (xs: number[]) => `${percentile(xs, 0.5).toFixed(1)}/${percentile(xs, 0.99).toFixed(1)}`.padEnd(14);
    console.log(
      `${String(round).padEnd(6)} ${cell(perNode.A!)} ${cell(perNode.B!)} ${cell(perNode.C!)} ${cell(pollFloor).padEnd(19)} ${loadavg()[0]!.toFixed(2)}`,
    );
  }
  achieved = await stopLoad();
  stopLoad = undefined;
} finally {
  if (stopLoad) await stopLoad();
  for (const c of clients) c.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await database.drop();
}
const loadEnd = loadavg();
console.log(`load average at end (1, 5, 15 min): ${formatLoad(loadEnd)}`);
for (const [n, r] of achieved.entries()) {
  console.log(
    `node ${names[n]} ingest during the rounds: ${Math.round(r.requestsPerSecond)} requests/s achieved, ${r.non2xx} non-2xx, ${r.errors} errors, p99 ${r.latencyP99Ms} ms`,
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round2 = (x: number) => Math.round(x * 100) / 100;
/** Per round, the p99 over every node's samples (the slowest node dominates it). */
const allNodesP99 = rounds.map((r) => percentile([...r.perNode.A!, ...r.perNode.B!, ...r.perNode.C!], 0.99));
const remoteP99 = rounds.map((r) => percentile([...r.perNode.B!, ...r.perNode.C!], 0.99));
const neverRevoked = rounds.reduce((n, r) => n + r.neverRevoked, 0);
const medianAll = median(allNodesP99);
const worstAll = Math.max(...allNodesP99);
console.log(
  `revocation p99 over all nodes: median round ${round2(medianAll)} ms, worst round ${round2(worstAll)} ms — goal ≤ ${GOAL_P99_MS} ms ${medianAll <= GOAL_P99_MS && worstAll <= GOAL_P99_MS && neverRevoked === 0 ? 'met' : 'NOT met'}`,
);
const achievedTotal = achieved.reduce((n, r) => n + r.requestsPerSecond, 0);
const figures: BenchFigure[] = [
  {
    name: 'revocation p99 over all 3 nodes, median round',
    value: round2(medianAll),
    unit: 'ms',
    goal: `≤ ${GOAL_P99_MS} ms`,
    met: medianAll <= GOAL_P99_MS && neverRevoked === 0,
  },
  {
    name: 'revocation p99 over all 3 nodes, worst round',
    value: round2(worstAll),
    unit: 'ms',
    goal: `≤ ${GOAL_P99_MS} ms`,
    met: worstAll <= GOAL_P99_MS && neverRevoked === 0,
  },
  { name: 'revocation p99 on the other nodes (B, C), median round', value: round2(median(remoteP99)), unit: 'ms' },
  {
    name: 'poll round trip while the key is valid (sampling floor) p99, median round',
    value: round2(median(rounds.map((r) => percentile(r.pollFloor, 0.99)))),
    unit: 'ms',
  },
  { name: 'revocations not seen within 6 s', value: neverRevoked, unit: '' },
  { name: 'capacity of node A alone', value: Math.round(capacityAlone!.requestsPerSecond), unit: 'req/s (100 points)' },
  {
    name: 'capacity per node, all three saturated at once',
    value: Math.round(capacityTogether!.reduce((n, r) => n + r.requestsPerSecond, 0) / 3),
    unit: 'req/s (100 points)',
  },
  { name: 'ingest achieved during the rounds, per node (target: half the capacity)', value: Math.round(achievedTotal / 3), unit: 'req/s (100 points)' },
  { name: 'ingest answers other than 202 during the rounds (all nodes)', value: achieved.reduce((n, r) => n + r.non2xx + r.errors, 0), unit: 'requests' },
  { name: 'load average (1 min) at start', value: loadStart[0]!, unit: '' },
  { name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' },
];
const stat = (xs: number[]) => `${percentile(xs, 0.5).toFixed(1)} / ${percentile(xs, 0.99).toFixed(1)}`;
const file = writeBenchResult('revocation-under-ingest', {
  figures,
  tables: [
    {
      title: 'Every round: revoke response on A → first 403 on each node, p50 / p99 ms',
      columns: ['round', 'A (revoking)', 'B', 'C', 'all nodes p99', 'poll floor', 'load (1 min)'],
      rows: rounds.map((r, i) => [
        r.round,
        stat(r.perNode.A!),
        stat(r.perNode.B!),
        stat(r.perNode.C!),
        Number(allNodesP99[i]!.toFixed(2)),
        stat(r.pollFloor),
        Number(r.load1.toFixed(2)),
      ]),
      note: `${perRound} revocations per round; 3 built rekey servers (default flags) on one PostgreSQL database; each node loaded at half its capacity by a separate process.`,
    },
  ],
  details: {
    rounds: roundCount,
    revocations_per_round: perRound,
    load_start: loadStart,
    load_end: loadEnd,
    capacity_alone: capacityAlone!,
    capacity_together: capacityTogether!,
    achieved,
  },
});
console.log(`wrote ${file}`);
