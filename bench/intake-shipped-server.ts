/**
 * The intake of the server users run — the built `rekey server` (dist/cli/main.js), started as
 * the README starts it (default flags: log level info, durability process, the default rate
 * limits), in its own process on SQLite — against the floor, a bare `node:http` server that only
 * parses the same 100-point v2 JSON (bench/intake-bench-server.ts bare), in its own process.
 * Rounds alternate floor → server, every round is printed, and the load average at start and
 * end. Goal (issue 18): ≥ 0.70 of the floor, judged on the median and the worst round.
 *
 * The server's default per-key rate limit (2,000 requests/s, burst 4,000) is part of what users
 * run, so 429s are counted and printed; points/s counts 202s only.
 *
 * Usage: npm run build && node --import tsx bench/intake-shipped-server.ts [--seconds 5] [--rounds 3] [--connections 20]
 * Writes bench/results/intake-shipped-server.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchResult } from './support/bench-result.js';
import { benchDir, hundredPointBodies, load, startBenchServer, type LoadResult } from './intake-bench-support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '20' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts dist/cli/main.js server with default flags; resolves once it printed the first API key. */
async function startShippedServer(): Promise<{ url: string; apiKey: string; stop: () => Promise<void> }> {
  const data = mkdtempSync(join(tmpdir(), 'rekey-bench-shipped-'));
  const port = await freePort();
  const { REKEY_DATABASE_URL: _url, ...env } = process.env;
  const child = spawn(process.execPath, [join(benchDir, '..', 'dist', 'cli', 'main.js'), 'server'], {
    env: { ...env, REKEY_DATA: data, REKEY_PORT: String(port), REKEY_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  const apiKey = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rekey server did not print its first API key within 60 s')), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /API key:\s+([0-9a-f]{32})\s/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`rekey server exited with ${code}`)));
  });
  // The log lines after start-up go nowhere: reading them would cost this process, not the server.
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/livez`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    apiKey,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => {
          rmSync(data, { recursive: true, force: true });
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

const POINTS_PER_BODY = 100;
const loadStart = loadavg();
const bodies = hundredPointBodies(500);
const bare = await startBenchServer('bare', process.env);
const shipped = await startShippedServer();
const json = { 'content-type': 'application/json' };
const rows: Array<{ round: number; bare: LoadResult; server: LoadResult; ratio: number }> = [];
try {
  // Warm-up, not counted: both servers' JIT and the server's key cache.
  await load({ url: `${bare.url}/api/v2/series`, headers: json, bodies, connections, seconds: 2 });
  await load({ url: `${shipped.url}/api/v2/series`, headers: { ...json, 'dd-api-key': shipped.apiKey }, bodies, connections, seconds: 2 });
  process.stdout.write('round  floor points/s  server points/s  ratio  server 429s  server p99 ms\n');
  for (let round = 1; round <= rounds; round++) {
    const floor = await load({ url: `${bare.url}/api/v2/series`, headers: json, bodies, connections, seconds });
    const server = await load({ url: `${shipped.url}/api/v2/series`, headers: { ...json, 'dd-api-key': shipped.apiKey }, bodies, connections, seconds });
    const ratio = server.requestsPerSecond / floor.requestsPerSecond;
    rows.push({ round, bare: floor, server, ratio });
    process.stdout.write(
      `${String(round).padEnd(6)} ${Math.round(floor.requestsPerSecond * POINTS_PER_BODY).toString().padStart(15)} ${Math.round(server.requestsPerSecond * POINTS_PER_BODY).toString().padStart(16)}  ${ratio.toFixed(3)}  ${String(server.non2xx).padStart(11)}  ${server.latencyP99Ms}\n`,
    );
  }
} finally {
  await shipped.stop();
  await bare.stop();
}
const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
const median = ratios[Math.floor(ratios.length / 2)]!;
const worst = ratios[0]!;
const loadEnd = loadavg();
process.stdout.write(`median ratio ${median.toFixed(3)}, worst ${worst.toFixed(3)}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} → ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`);
writeBenchResult('intake-shipped-server', {
  figures: [
    { name: 'shipped rekey server / bare node:http, 100-point v2 JSON, median round', value: Number(median.toFixed(3)), unit: 'x', goal: '≥ 0.70', met: median >= 0.7 },
    { name: 'the same, worst round', value: Number(worst.toFixed(3)), unit: 'x', goal: '≥ 0.70', met: worst >= 0.7 },
    { name: 'server answers other than 202 (all rounds; 429 = default per-key rate limit)', value: rows.reduce((n, r) => n + r.server.non2xx, 0), unit: 'requests' },
  ],
});
