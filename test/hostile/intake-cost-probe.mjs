/**
 * A hostile key holder's intake bodies against the shipped server (`dist/`, its own process,
 * default flags), measured: the server's CPU time per request (from /proc) and the latency of
 * `/healthz` timed from another connection meanwhile. Not a test (it asserts nothing); the
 * figures are in the hostile report. Usage:
 *
 *   node test/hostile/intake-cost-probe.mjs [TREE ...]    (each TREE has a built dist/)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const trees = process.argv.length > 2 ? process.argv.slice(2) : [process.cwd()];
const now = () => Math.floor(Date.now() / 1000);

function padTo(prefix, suffix, size, piece) {
  const parts = [];
  let length = prefix.length + suffix.length;
  for (let i = 0; ; i++) {
    const p = piece(i);
    if (length + p.length + 1 > size) break;
    parts.push(p);
    length += p.length + 1;
  }
  return prefix + parts.join(',') + suffix;
}

let fresh = 0;
/** A valid v1 payload of `size` bytes whose unread member "x" holds objects with never-seen keys. */
function freshKeys(size) {
  const tag = (fresh++).toString(36);
  return padTo(`{"series":[{"metric":"probe.m","points":[[${now()},1]]}],"x":[`, ']}', size, (i) => `{"${tag}_${i}":0}`);
}
function legit(size) {
  return padTo(
    '{"series":[',
    ']}',
    size,
    (i) => `{"metric":"app.m${i % 50}","points":[[${now()},${i}.5]],"type":"gauge","host":"h${i % 20}","tags":["env:prod","svc:a${i % 7}"]}`,
  );
}
const K64 = 64 * 1024;
const bodies = {
  'legit v1 64 KiB': () => ({ body: legit(K64) }),
  'legit v1 3 MB': () => ({ body: legit(3_000_000) }),
  '65536 unclosed [ (64 KiB)': () => ({ body: '['.repeat(K64) }),
  '32768 nested [] in series (64 KiB)': () => ({ body: `{"series":${'['.repeat(32_760)}${']'.repeat(32_760)}}` }),
  '65537 unclosed [ (64 KiB + 1)': () => ({ body: '['.repeat(K64 + 1) }),
  'gzip 65536 unclosed [': () => ({ body: gzipSync('['.repeat(K64)), encoding: 'gzip' }),
  'fresh keys v1 64 KiB (202)': () => ({ body: freshKeys(K64) }),
  'gzip fresh keys v1 64 KiB (202)': () => ({ body: gzipSync(freshKeys(K64)), encoding: 'gzip' }),
  'fresh keys v1 3 MB (202)': () => ({ body: freshKeys(3_000_000) }),
};

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
}

async function startServer(tree) {
  const data = mkdtempSync(join(tmpdir(), 'rekey-probe-'));
  const child = spawn(
    process.execPath,
    [join(tree, 'dist/cli/main.js'), 'server', '--host', '127.0.0.1', '--port', '0', '--data', data, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Refused bodies are the point here: the refused-payload budget (5/s) would answer 429 instead.
      env: { ...process.env, REKEY_INTAKE_REFUSED_PER_KEY: '100000/100000' },
    },
  );
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('no start')), 60_000);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) ok(m[1], clearTimeout(timer));
    });
  });
  const apiKey = /API key:\s+([0-9a-f]{32})\b/.exec(out)[1];
  return { child, url, apiKey, data };
}

async function send(server, make, statuses) {
  const { body, encoding } = make();
  const headers = { 'content-type': 'application/json', 'dd-api-key': server.apiKey, ...(encoding ? { 'content-encoding': encoding } : {}) };
  const response = await fetch(`${server.url}/api/v1/series`, { method: 'POST', headers, body });
  await response.arrayBuffer();
  statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  return body.length;
}

/** CPU per request with nothing else sent (sequential), then `/healthz` latency while the same bodies are sent. */
async function measure(server, name, make, count) {
  const statuses = {};
  const cpuBefore = cpuMs(server.child.pid);
  let wireBytes = 0;
  for (let i = 0; i < count; i++) wireBytes += await send(server, make, statuses);
  const cpu = (cpuMs(server.child.pid) - cpuBefore) / count;
  const latencies = [];
  let observing = true;
  const observer = (async () => {
    while (observing) {
      const t = performance.now();
      await fetch(`${server.url}/healthz`).then((r) => r.arrayBuffer());
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  for (let i = 0; i < count; i++) await send(server, make, statuses);
  observing = false;
  await observer;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
  console.log(
    `${name.padEnd(38)} wire ${String(Math.round(wireBytes / count)).padStart(8)} B  cpu/req ${cpu.toFixed(1).padStart(7)} ms  healthz p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)} ms  ${JSON.stringify(statuses)}`,
  );
}

console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (2-core machine shared with other engineers' tests)`,
);
for (const tree of trees) {
  const server = await startServer(resolve(tree));
  console.log(`\n== ${tree}`);
  try {
    for (const [name, make] of Object.entries(bodies)) {
      await measure(server, name, make, name.includes('3 MB') ? 10 : 100);
    }
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.on('exit', r));
    rmSync(server.data, { recursive: true, force: true });
  }
}
console.log(
  `\nload average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
