/**
 * Fleet rotation benchmark: 10,000 simulated agents (in this process, on a worker thread: see
 * rotate-fleet-agents.ts) post real HTTP series to a
 * real `rekey server` process with the key their simulated config holds; the real rotation
 * engine (src/rotate/rotation.ts) rotates all of them end to end — plan, new key, deploy
 * through an in-process transport that changes each simulated config and "restarts" its agent,
 * verification from the server's per-key host usage, revoke. Every point generated must be
 * stored exactly once.
 *
 * Goals (issue 18): 10,000 agents rotated end to end in ≤ 60 s wall, zero points lost (up to
 * 1,000 agents: ≤ 20 s). The load average is printed at the start and the end: the simulated
 * fleet, the server and the rotation share this machine's cores with whatever else runs.
 * Usage: node --import tsx bench/rotate-fleet.ts [--agents 10000] [--concurrency 100]
 * Writes bench/results/rotate-fleet.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DatadogClient } from '../src/rotate/datadog-client.js';
import type { Inventory, InventoryHost } from '../src/rotate/inventory.js';
import { rotate } from '../src/rotate/rotation.js';
import type { Transport } from '../src/rotate/transports/transport.js';
import { api, startServer, until, type ServerProcess } from '../test/rotate/support/fleet.js';
import { writeBenchResult } from './support/bench-result.js';
import { processCpuMicros } from './support/process-cpu.js';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '100' } } });
const AGENTS = Number(values.agents);
const CONCURRENCY = Number(values.concurrency);
const METRIC = 'bench.rotate.points'; // what rotate-fleet-agents.ts sends
const FLUSH_MS = 10_000;
const GOAL_MS = AGENTS <= 1000 ? 20_000 : 60_000;
const loadStart = loadavg();
process.stdout.write(`load average at start (1, 5, 15 min): ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`);
/** The in-process transport: asks the fleet worker to change a simulated config or restart an agent. */
class SimTransport implements Transport {
  constructor(
    private readonly host: string,
    private readonly fleet: FleetWorker,
  ) {}
  async deploy(key: string) {
    return { backup: (await this.fleet.call({ op: 'deploy', host: this.host, key })) as string };
  }
  async restart() {
    await this.fleet.call({ op: 'restart', host: this.host });
  }
  async rollback(backup: string | undefined) {
    if (backup) await this.fleet.call({ op: 'rollback', host: this.host, key: backup });
  }
  async configuredLast4() {
    return (await this.fleet.call({ op: 'last4', host: this.host })) as string;
  }
}

class FleetWorker {
  private next = 1;
  private readonly waiting = new Map<number, (value: unknown) => void>();
  readonly ready: Promise<void>;
  constructor(readonly worker: Worker) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    worker.on('message', (message: { id?: number; value?: unknown; ready?: boolean }) => {
      if (message.ready) return markReady();
      const resolve = this.waiting.get(message.id!);
      this.waiting.delete(message.id!);
      resolve?.(message.value);
    });
  }
  call(request: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...request, id });
    });
  }
}

/**
 * What each simulated agent's points add up to on the server, read through `/api/v1/query` a
 * minute of the run at a time: one query over a run of 10,000 agents reads a million points and
 * takes longer than a read-back should wait for one answer. Each agent sends a count of 1 per
 * second (interval 1), so a host's total is the sum of its points.
 */
async function storedByHost(server: ServerProcess, apiKey: string, fromSeconds: number): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  const end = Math.floor(Date.now() / 1000) + 60;
  for (let from = fromSeconds; from <= end; from += 60) {
    const query = encodeURIComponent(`sum:${METRIC}{*} by {host}.rollup(sum, 60)`);
    const response = await fetch(`${server.url}/api/v1/query?from=${from}&to=${Math.min(end, from + 59)}&query=${query}`, {
      headers: { 'DD-API-KEY': apiKey, 'DD-APPLICATION-KEY': server.appKey },
      signal: AbortSignal.timeout(120_000),
    });
    const body = (await response.json()) as { series?: Array<{ scope: string; pointlist: Array<[number, number | null]> }> };
    if (response.status !== 200 || !body.series) throw new Error(`query failed: ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
    for (const series of body.series) {
      const host = series.scope.replace(/^host:/, '');
      totals.set(host, (totals.get(host) ?? 0) + series.pointlist.reduce((sum, [, value]) => sum + (value ?? 0), 0));
    }
  }
  return totals;
}

const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-rotate-'));
let server: ServerProcess | undefined;
try {
  server = await startServer(join(dir, 'data'));
  const startSecond = Math.floor(Date.now() / 1000);
  const fleet = new FleetWorker(
    // A worker does not inherit tsx's loader: register it there, then load the TypeScript module.
    new Worker(
      `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./rotate-fleet-agents.ts', import.meta.url).href)}); })`,
      { eval: true, workerData: { url: server.url, key: server.apiKey.key, count: AGENTS } },
    ),
  );
  await fleet.ready;
  const names = Array.from({ length: AGENTS }, (_, i) => `sim-${String(i).padStart(4, '0')}`);

  const oldKeyId = server.apiKey.id;
  await until(async () => (await api(server!, `/api/v2/api_keys/${oldKeyId}/hosts`)).body.data.length === AGENTS, 90_000, `${AGENTS} hosts on the old key`);

  const sims = new Map(names.map((name) => [name, new SimTransport(name, fleet)]));
  const inventory: Inventory = {
    file: join(dir, 'inventory.yaml'),
    hosts: names.map((name, i) => ({ transport: 'local', name, line: i + 2, config: `/sim/${name}/datadog.yaml`, restart: { kind: 'none' } })),
  };
  const timeline: string[] = [];
  // CPU, not only wall time: on a shared machine the wall time says how busy it was, CPU what the rotation cost.
  const serverCpuBefore = processCpuMicros(server.child.pid!);
  const benchCpuBefore = process.cpuUsage();
  const rotationStarted = Date.now();
  const report = await rotate({
    inventory,
    client: new DatadogClient({ url: server.url, apiKey: server.apiKey.key, appKey: server.appKey }),
    journalPath: join(dir, 'journal.json'),
    concurrency: CONCURRENCY,
    dryRun: false,
    resume: false,
    force: false,
    verifyTimeoutMs: 60_000,
    recentWindowMs: 3_600_000,
    pollIntervalMs: 500,
    transportFor: (host: InventoryHost) => sims.get(host.name)!,
    progress: {
      hostEvent: () => undefined,
      counts: (c) => {
        const milestone =
          c.verified === 1 || (c.verified > 0 && c.verified % Math.max(1, Math.floor(AGENTS / 4)) === 0) || (c.deployed === AGENTS && c.verified === 0);
        if (milestone) timeline.push(`${Date.now() - rotationStarted} ms: ${c.deployed} deployed, ${c.verified} verified`);
      },
      message: (text) => timeline.push(`${Date.now() - rotationStarted} ms: ${text.replace(/ \(mode 0600.*$/, '')}`),
      close: () => undefined,
    },
  });
  timeline.push(`${Date.now() - rotationStarted} ms: done`);
  process.stdout.write(`${[...new Set(timeline)].join('\n')}\n`);
  const rotationMs = Date.now() - rotationStarted;
  const serverCpuSeconds = Math.round((processCpuMicros(server.child.pid!) - serverCpuBefore) / 1e5) / 10;
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const benchCpuSeconds = Math.round((benchCpu.user + benchCpu.system) / 1e5) / 10;
  process.stdout.write(`CPU during the rotation: server ${serverCpuSeconds} s; this process (rotation engine + simulated fleet thread) ${benchCpuSeconds} s\n`);
  const verified = report.hosts.filter((h) => h.state === 'verified').length;
  process.stdout.write(`rotation: ${verified}/${AGENTS} verified, old key revoked: ${report.old_keys.every((k) => k.revoked)}, ${rotationMs} ms\n`);

  // Keep the fleet running on the new key a moment, then stop generating and drain every queue.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const drained = (await fleet.call({ op: 'drain' })) as {
    agents: Array<{ name: string; generated: number; pending: number; runningKeyLast4: string }>;
    forbidden: number;
    failed: number;
    key: string;
  };
  await fleet.worker.terminate();
  const newKey = drained.key;
  const generated = drained.agents.reduce((sum, a) => sum + a.generated, 0);
  let stored = new Map<string, number>();
  const readBackStarted = Date.now();
  await until(
    async () => {
      stored = await storedByHost(server!, newKey, startSecond - 5);
      return [...stored.values()].reduce((a, b) => a + b, 0) >= generated;
    },
    120_000,
    'every point stored',
  ).catch((error: unknown) => process.stdout.write(`read-back: ${(error as Error).message}\n`));
  process.stdout.write(`read-back took ${Date.now() - readBackStarted} ms\n`);
  const storedTotal = [...stored.values()].reduce((a, b) => a + b, 0);
  const hostsExact = drained.agents.filter((agent) => stored.get(agent.name) === agent.generated).length;
  const forbidden = drained.forbidden;
  const failures = drained.failed;
  const lost = generated - storedTotal;
  process.stdout.write(
    `points: generated ${generated}, stored ${storedTotal}, lost ${lost}; hosts exact ${hostsExact}/${AGENTS}; 403s retried ${forbidden}; other failed posts retried ${failures}\n`,
  );

  const loadEnd = loadavg();
  process.stdout.write(`load average at end (1, 5, 15 min): ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`);
  const file = writeBenchResult('rotate-fleet', {
    figures: [
      {
        name: `rotation wall time, ${AGENTS} agents (plan → key → deploy → verify → revoke)`,
        value: rotationMs,
        unit: 'ms',
        goal: `≤ ${GOAL_MS} ms`,
        met: rotationMs <= GOAL_MS && verified === AGENTS,
      },
      { name: 'hosts verified on the new key', value: verified, unit: 'hosts', goal: `${AGENTS}`, met: verified === AGENTS },
      { name: 'points lost', value: lost, unit: 'points', goal: '0', met: lost === 0 && hostsExact === AGENTS },
      { name: 'points generated', value: generated, unit: 'points' },
      { name: 'payloads answered 403 and retried with the new key', value: forbidden, unit: 'payloads' },
      { name: 'server CPU during the rotation (intake of the fleet + management API)', value: serverCpuSeconds, unit: 's' },
      { name: 'rotating process CPU during the rotation (engine + simulated fleet thread)', value: benchCpuSeconds, unit: 's' },
      { name: 'load average (1 min) at start', value: Math.round(loadStart[0]! * 100) / 100, unit: '' },
      { name: 'load average (1 min) at end', value: Math.round(loadEnd[0]! * 100) / 100, unit: '' },
    ],
    details: {
      agents: AGENTS,
      concurrency: CONCURRENCY,
      flush_interval_ms: FLUSH_MS,
      verify_poll_ms: 500,
      old_key_revoked: report.old_keys.every((k) => k.revoked),
      hosts_with_exact_totals: hostsExact,
      other_failed_posts_retried: failures,
      notes: report.notes,
      timeline: [...new Set(timeline)],
    },
  });
  process.stdout.write(`wrote ${file}\n`);
  if (verified !== AGENTS || lost !== 0 || !report.old_keys.every((k) => k.revoked)) process.exitCode = 1;
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
