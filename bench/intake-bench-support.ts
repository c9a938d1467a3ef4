/**
 * Shared pieces of the intake benchmarks: start a server process of intake-bench-server.ts,
 * run autocannon against it, percentiles, and writing bench/results/<name>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import autocannon from 'autocannon';
import { MetricPayloadType } from '../src/intake/metric-payload-proto.js';

export const benchDir = fileURLToPath(new URL('.', import.meta.url));

export interface BenchServer {
  url: string;
  pid: number;
  /** Stops it; resolves with its last JSON line (points stored or parsed). */
  stop(): Promise<Record<string, number>>;
}

export type BenchServerMode =
  'intake' | 'intake-power' | 'intake-direct' | 'intake-direct-power' | 'intake-noauth' | 'intake-nostore' | 'bare' | 'bare-protobuf';

/** `nodeArgs`: extra `node` flags (e.g. `--cpu-prof`) for the server process. */
export function startBenchServer(mode: BenchServerMode, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<BenchServer> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', `${benchDir}intake-bench-server.ts`, mode], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const lines: string[] = [];
  child.stdout!.on('data', (chunk) => {
    out += chunk;
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start`)), 60_000);
    const poll = setInterval(() => {
      const first = lines[0];
      if (first === undefined) return;
      clearInterval(poll);
      clearTimeout(timer);
      const { url } = JSON.parse(first) as { url: string };
      resolve({
        url,
        pid: child.pid!,
        stop: () =>
          new Promise((done) => {
            child.once('exit', () => done(JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, number>));
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
          }),
      });
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      if (lines.length === 0) reject(new Error(`${mode} server exited with ${code}`));
    });
  });
}

export interface LoadResult {
  requestsPerSecond: number;
  ok: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  durationSeconds: number;
}

/** Runs autocannon: POSTs cycling through `bodies` on `connections` connections. */
export async function load(options: {
  url: string;
  headers: Record<string, string>;
  bodies: Array<string | Buffer>;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    method: 'POST',
    headers: options.headers,
    requests: [
      {
        method: 'POST',
        setupRequest: (request: Record<string, unknown>) => ({ ...request, body: options.bodies[next++ % options.bodies.length] }),
      },
    ],
  });
  const ok = result['2xx'];
  const seconds = result.duration;
  return {
    requestsPerSecond: ok / seconds,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    durationSeconds: seconds,
  };
}

export function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function writeResult(name: string, result: unknown): void {
  mkdirSync(`${benchDir}results`, { recursive: true });
  writeFileSync(`${benchDir}results/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/** 100-point v2 JSON payloads (10 series × 10 points), each with its own timestamps. */
export function hundredPointBodies(count: number): string[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      series: Array.from({ length: 10 }, (_, s) => ({
        metric: `bench.metric.${s}`,
        type: 3,
        points: Array.from({ length: 10 }, (_, p) => ({ timestamp: now - 60 - Math.floor(i / 50) * 10 - p, value: i + s + p / 10 })),
        resources: [{ name: `bench-host-${i % 50}`, type: 'host' }],
        tags: ['env:bench', `shard:${s}`],
      })),
    }),
  );
}

/**
 * Agent-shaped v2 protobuf payloads, deflated as the Datadog Agent sends them
 * (`Content-Type: application/x-protobuf`, `Content-Encoding: deflate`): one flush of one
 * host — 100 series of one point each (a 10 s flush), the host as a resource, five tags,
 * gauges and rates (rates with interval 10) — each payload with its own timestamp.
 */
export function agentProtobufBodies(count: number): Buffer[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, i) => {
    const host = `bench-host-${i % 50}`;
    const payload = MetricPayloadType.fromObject({
      series: Array.from({ length: 100 }, (_, s) => ({
        resources: [{ type: 'host', name: host }],
        metric: `system.bench.metric_${s}`,
        tags: ['env:bench', `service:svc-${s % 7}`, `device:sd${s % 4}`, 'team:perf', `shard:${s % 10}`],
        // Within Datadog's 1 h window (issue 17): 50 hosts × 10 flushes, the newest a minute ago.
        points: [{ value: i + s / 10, timestamp: now - 60 - Math.floor(i / 50) * 10 }],
        type: s % 3 === 0 ? 2 : 3,
        interval: s % 3 === 0 ? 10 : 0,
        source_type_name: 'System',
      })),
    });
    return deflateSync(MetricPayloadType.encode(payload).finish());
  });
}
