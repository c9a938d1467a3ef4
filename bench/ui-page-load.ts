/**
 * Web UI page load times, locally. Goal (issue 8): every page loads in under 200 ms.
 *
 * A SQLite deployment at the organisation's limit — 50 active API keys, 10 hosts on each
 * (500 key-host rows), 5 revoked keys, a few hundred audit events — served by the real
 * server (`buildApp`, with the UI) on 127.0.0.1. Two measurements per page:
 *  - server: send → full HTML response, over keep-alive HTTP (sequential, after warm-up);
 *  - browser: Chromium's navigation timing up to the load event (HTML, CSS, JS, uPlot and
 *    the chart drawn), the figure a user feels.
 * Baseline in the same run: `GET /healthz` (HTTP + Fastify alone).
 *
 * Usage: node --import tsx bench/ui-page-load.ts [--requests 50] [--navigations 10]
 * Writes bench/results/ui-page-load.json. On a busy machine the browser figures mostly
 * measure CPU starvation: the load average is recorded with them.
 */
import { cpus, loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { generateKey, last4 } from '../src/keys/key-format.js';
import { buildApp } from '../src/server/app.js';
import { launchChromium } from '../test/ui/browser.js';
import { createDeployment } from '../test/ui/ui-harness.js';
import { CLI_ACTOR } from '../test/support/dialects.js';
import { writeBenchResult, type BenchFigure } from './support/bench-result.js';

const { values: args } = parseArgs({ options: { requests: { type: 'string', default: '50' }, navigations: { type: 'string', default: '10' } } });
const REQUESTS = Number(args.requests);
const NAVIGATIONS = Number(args.navigations);

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { n: sorted.length, p50_ms: r(at(0.5)), p90_ms: r(at(0.9)), max_ms: r(sorted[sorted.length - 1]!) };
}

const d = await createDeployment('bench');
const now = Date.now();
const actor = { userId: d.users.admin.user.id, kind: 'user' as const, sourceIp: '127.0.0.1' };
const newKey = (name: string) => {
  const secret = generateKey('api');
  return d.store.createApiKey(d.org.id, { name, hash: d.hasher.hash(secret), last4: last4(secret) }, actor);
};
// 5 revoked keys first (the limit counts unrevoked keys), then 49 more active ones.
for (let i = 0; i < 5; i++) await d.store.revokeApiKey(d.org.id, (await newKey(`old key ${i}`)).id, CLI_ACTOR);
const keys = [d.firstKey];
for (let i = 1; i < 50; i++) keys.push(await newKey(`key ${i}`));
await d.store.recordKeyUsage(
  keys.flatMap((key, k) =>
    Array.from({ length: 10 }, (_, h) => ({
      keyId: key.id,
      host: `host-${k}-${h}.example.internal`,
      firstSeen: new Date(now - 86_400_000 + h * 60_000),
      lastSeen: new Date(now - h * 1000),
      points: 1000 + h,
      agentVersion: '7.52.0',
    })),
  ),
);

const app = await buildApp({ store: d.store, hasher: d.hasher, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

// Sign in through the form, as a browser does.
const loginForm = await fetch(`${base}/login`);
const loginCookie = loginForm.headers
  .getSetCookie()
  .map((c) => c.split(';')[0])
  .join('; ');
const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginForm.text())![1]!;
const signedIn = await fetch(`${base}/login`, {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
  body: new URLSearchParams({ _csrf: csrf, email: d.users.admin.email, password: d.users.admin.password }),
});
const sessionCookie = signedIn.headers
  .getSetCookie()
  .find((c) => c.startsWith('rekey_session='))!
  .split(';')[0]!;

const pages = ['/keys', `/keys/${d.firstKey.id}`, '/app-keys', '/hosts', '/audit', '/users', `/keys/${keys[1]!.id}/revoke`];
async function time(path: string, cookie?: string): Promise<number> {
  const start = process.hrtime.bigint();
  const response = await fetch(`${base}${path}`, { headers: cookie ? { cookie } : {} });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const server: Record<string, ReturnType<typeof stats>> = {};
// CPU time of this process (server and HTTP client together) per request: unlike wall time,
// hardly affected by other processes competing for the CPUs.
const cpuPerRequest: Record<string, number> = {};
for (const path of ['/healthz', ...pages]) {
  const cookie = path === '/healthz' ? undefined : sessionCookie;
  for (let i = 0; i < 5; i++) await time(path, cookie); // warm-up
  const samples: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) samples.push(await time(path, cookie));
  const cpu = process.cpuUsage(cpuStart);
  cpuPerRequest[path] = Math.round(((cpu.user + cpu.system) / 1000 / REQUESTS) * 100) / 100;
  server[path] = stats(samples);
}

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const [name, value] = sessionCookie.split('=') as [string, string];
await context.addCookies([{ name, value, url: base, httpOnly: true, sameSite: 'Strict' }]);
const page = await context.newPage();
const browserTimes: Record<string, ReturnType<typeof stats>> = {};
const browserResponseEnd: Record<string, ReturnType<typeof stats>> = {};
for (const path of pages) {
  const samples: number[] = [];
  const responseEnds: number[] = [];
  for (let i = 0; i < NAVIGATIONS + 2; i++) {
    await page.goto(`${base}${path}`, { waitUntil: 'load' });
    const [responseEnd, loadEnd] = await page.evaluate<[number, number]>(
      "(() => { const n = performance.getEntriesByType('navigation')[0]; return [n.responseEnd, n.loadEventEnd]; })()",
    );
    if (i >= 2) {
      // first two: cold caches
      samples.push(loadEnd);
      responseEnds.push(responseEnd);
    }
  }
  browserTimes[path] = stats(samples);
  browserResponseEnd[path] = stats(responseEnds);
}
await browser.close();
await app.close();
await d.destroy();

const label = (path: string) => path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, ':id');
const figures: BenchFigure[] = [
  { name: 'GET /healthz p50 over HTTP (baseline: HTTP + Fastify alone)', value: server['/healthz']!.p50_ms, unit: 'ms' },
  { name: 'GET /healthz CPU per request (baseline)', value: cpuPerRequest['/healthz']!, unit: 'ms' },
  ...pages.flatMap((path): BenchFigure[] => [
    { name: `${label(path)} server response p90`, value: server[path]!.p90_ms, unit: 'ms', goal: '< 200 ms', met: server[path]!.p90_ms < 200 },
    { name: `${label(path)} CPU per request (server + client)`, value: cpuPerRequest[path]!, unit: 'ms' },
    {
      name: `${label(path)} in Chromium, navigation to load event p50`,
      value: browserTimes[path]!.p50_ms,
      unit: 'ms',
      goal: '< 200 ms',
      met: browserTimes[path]!.p50_ms < 200,
    },
  ]),
];
writeBenchResult('ui-page-load', {
  figures,
  details: {
    keys: 55,
    key_host_rows: 500,
    load_average: loadavg(),
    cpus: cpus().length,
    server_ms: server,
    cpu_ms_per_request: cpuPerRequest,
    browser_load_ms: browserTimes,
    browser_response_end_ms: browserResponseEnd,
  },
});
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} on ${cpus().length} CPUs`,
);
console.log('page                                    server p50/p90 ms   CPU/request ms   browser HTML received p50   browser load p50/p90 ms');
for (const path of ['/healthz', ...pages]) {
  const s = server[path]!;
  const b = browserTimes[path];
  console.log(
    `${label(path).padEnd(40)}${`${s.p50_ms} / ${s.p90_ms}`.padEnd(20)}${String(cpuPerRequest[path]).padEnd(17)}${(browserResponseEnd[path] ? String(browserResponseEnd[path]!.p50_ms) : '').padEnd(28)}${b ? `${b.p50_ms} / ${b.p90_ms}` : '(baseline)'}`,
  );
}
