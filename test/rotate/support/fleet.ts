/**
 * Real processes for the rotation end-to-end tests: a `rekey server` on a free port, rekey-agent
 * processes with their own datadog.yaml, DogStatsD counters pumped into each agent (hot-shots),
 * and reads of the server's per-key host usage and stored points.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import StatsD from 'hot-shots';
import { startServerProcess } from '../../support/server-process.js';
import { startAgent, stopAgent, writeYamlConfig, type AgentProcess } from '../../agent/support/agent-process.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  apiKey: { id: string; key: string };
  appKey: string;
  stop: () => Promise<void>;
  /** The last `chars` of the server's log (stderr; stdout holds the first start's credentials), keys masked: for a failure's message. */
  logTail: (chars?: number) => string;
}

/** `rekey server --data DIR --port 0`, waiting (bounded) for its credentials and "listening on" line. */
export async function startServer(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess({
    args: ['--data', dataDir, '--log-level', 'warn'],
    env: { ...process.env, REKEY_DATABASE_URL: '' },
    timeoutMs: 60_000,
  });
  const apiKey = server.credentials?.apiKey;
  const appKey = server.credentials?.appKey;
  if (!apiKey?.id || !appKey) {
    await server.stop('SIGKILL');
    throw new Error(`no credentials in the server's first output:\n${server.stdout().replace(/[0-9a-f]{32,40}/g, '<key>')}`);
  }
  return {
    child: server.child,
    url: server.url,
    apiKey: { id: apiKey.id, key: apiKey.key },
    appKey,
    stop: async () => {
      await server.stop('SIGTERM', 15_000);
    },
    logTail: (chars = 4000) =>
      server
        .stderr()
        .slice(-chars)
        .replace(/[0-9a-f]{32,40}/g, '<key>'),
  };
}

export interface FleetAgent {
  name: string;
  config: string;
  runPath: string;
  pidFile: string;
  process: AgentProcess;
  /** Counter increments sent so far. */
  sent: number;
  statsd: InstanceType<typeof StatsD>;
}

/** A rekey-agent reporting as `name` with `key`, its config and run path under `dir/name`. */
export async function startFleetAgent(dir: string, name: string, url: string, key: string): Promise<FleetAgent> {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const config = join(home, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url, hostname: name });
  const runPath = join(home, 'run');
  const agentProcess = await startAgent({ config, runPath, flushInterval: 1 });
  const statsd = new StatsD({ host: '127.0.0.1', port: agentProcess.dogstatsdPort, protocol: 'udp', maxBufferSize: 0 });
  return { name, config, runPath, pidFile: join(runPath, 'rekey-agent.pid'), process: agentProcess, sent: 0, statsd };
}

export async function stopFleetAgent(agent: FleetAgent, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await new Promise<void>((resolve) => agent.statsd.close(() => resolve()));
  await stopAgent(agent.process, signal);
}

/**
 * Sends one increment of `metric` to every agent every `everyMs` until stopped; each agent
 * counts what it was sent, so the test can check the server stored every single one.
 */
export function pumpCounters(agents: FleetAgent[], metric: string, everyMs = 100): { stop: () => Promise<void> } {
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    for (const agent of agents) {
      if (agent.process.child.exitCode !== null || agent.process.child.signalCode !== null) continue;
      agent.statsd.increment(metric, 1);
      agent.sent++;
    }
  }, everyMs);
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}

export async function api(server: ServerProcess, path: string, init: { method?: string; apiKey?: string } = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { 'DD-API-KEY': init.apiKey ?? server.apiKey.key, 'DD-APPLICATION-KEY': server.appKey },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * What a DogStatsD counter `metric` counted, per host, read back through `GET /api/v1/query`.
 * rekey-agent sends a counter as the Datadog Agent does, a rate per second over a 10 s
 * interval, so the count is the sum of the points × 10 (Datadog's `.as_count()`).
 */
const COUNTER_INTERVAL_SECONDS = 10;

export async function totalsByHost(server: ServerProcess, metric: string, apiKey: string, fromSeconds: number): Promise<Map<string, number>> {
  const to = Math.floor(Date.now() / 1000) + 60;
  const { status, body } = await api(server, `/api/v1/query?from=${fromSeconds}&to=${to}&query=${encodeURIComponent(`sum:${metric}{*} by {host}`)}`, {
    apiKey,
  });
  if (status !== 200) throw new Error(`query failed: ${status} ${JSON.stringify(body)}`);
  const totals = new Map<string, number>();
  for (const series of body.series as Array<{ scope: string; tag_set?: string[]; pointlist: Array<[number, number | null]> }>) {
    const host = (series.tag_set ?? []).find((tag) => tag.startsWith('host:'))?.slice(5) ?? series.scope.replace(/^host:/, '');
    totals.set(host, (totals.get(host) ?? 0) + series.pointlist.reduce((sum, [, value]) => sum + (value ?? 0), 0) * COUNTER_INTERVAL_SECONDS);
  }
  // Rounded: a sum of 0.1/s points × 10 must read back as the whole count it is.
  for (const [host, total] of totals) totals.set(host, Math.round(total * 1e6) / 1e6);
  return totals;
}

/** Waits (bounded) until `check` is true. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function writeInventory(file: string, hosts: Array<Record<string, unknown>>): void {
  const lines = ['hosts:'];
  for (const host of hosts) {
    lines.push(`  - ${JSON.stringify(host)}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}
