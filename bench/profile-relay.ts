/**
 * Where the relay's CPU goes (issue 19's throughput goal): the built `rekey server` in relay
 * mode (as bench/relay-vs-proxy.ts starts it) runs under `node --cpu-prof` while autocannon
 * (this process) sends gzipped 100-point v2 JSON, which it spools and forwards to the bare sink
 * (bench/support/relay-children.ts). The window runs from the load's start to the moment the
 * spool is empty again (bench/support/relay-drain.ts: the relay accepts faster than it
 * forwards), so it holds the forwarding of every payload whose acceptance it holds. Prints the
 * relay's CPU µs per request (from /proc, outside the profiler's sampling) next to the bare
 * proxy's (the floor of bench/relay-vs-proxy.ts, profiled too, same load), self time by origin
 * and the top self-time functions of each, from the samples of that window only. Prints only:
 * no result file (the ratio that counts is bench/relay-vs-proxy.ts's).
 *
 * Usage: node --import tsx bench/profile-relay.ts [--seconds 10] [--connections 20] [--top 25] [--keep DIR]
 *   --keep DIR  keep the .cpuprofile in DIR (open it in Chrome DevTools)
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { PROFILE_OPTIONS, keepAndRemoveProfiles, mainThreadProfile, monotonicMicros, summariseProfile } from './support/cpu-profile.js';
import { processCpuMicros } from './support/process-cpu.js';
import { sinkCounts, startProxy, startSink } from './support/relay-children.js';
import { waitForDrain } from './support/relay-drain.js';
import { startShippedServer } from './support/shipped-server.js';
import { hundredPointBodies, load } from './intake-bench-support.js';

const { values } = parseArgs({ options: PROFILE_OPTIONS });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const top = Number(values.top);
const UPSTREAM_KEY = 'bench0relay0upstream0key00000001';

const loadStart = loadavg();
const bodies = hundredPointBodies(500).map((body) => gzipSync(body));
const profileDir = mkdtempSync(join(tmpdir(), 'rekey-prof-relay-'));
const proxyProfileDir = mkdtempSync(join(tmpdir(), 'rekey-prof-proxy-'));
const sink = await startSink();
const relay = await startShippedServer({
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  env: { REKEY_UPSTREAM_SITE: sink.url, REKEY_UPSTREAM_API_KEY: UPSTREAM_KEY },
});
const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip', 'dd-api-key': relay.apiKey };
const url = `${relay.url}/api/v2/series`;
let proxyCpuPerRequest = 0;
let proxyRequestsPerSecond = 0;
let proxyWindow = { fromMicros: 0, toMicros: 0 };
let measured: {
  fromMicros: number;
  toMicros: number;
  requests: number;
  cpuMicros: number;
  requestsPerSecond: number;
  forwardedPerSecond: number;
  drainSeconds: number;
};
try {
  for (let i = 0; i < 100 && !((await sinkCounts(sink))[UPSTREAM_KEY]! > 0); i++) {
    await fetch(url, { method: 'POST', headers, body: bodies[0]! }).then((r) => r.arrayBuffer());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!((await sinkCounts(sink))[UPSTREAM_KEY]! > 0)) throw new Error('the relay forwarded nothing to the sink: relay mode is not in effect');
  // The floor under the same load, profiled too: what the relay's CPU is compared with.
  const proxy = await startProxy(sink.url, ['--cpu-prof', `--cpu-prof-dir=${proxyProfileDir}`]);
  try {
    const proxyUrl = `${proxy.url}/api/v2/series`;
    await load({ url: proxyUrl, headers, bodies, connections, seconds: 2 });
    const before = processCpuMicros(proxy.pid);
    const fromMicros = monotonicMicros();
    const result = await load({ url: proxyUrl, headers, bodies, connections, seconds });
    proxyWindow = { fromMicros, toMicros: monotonicMicros() };
    proxyCpuPerRequest = (processCpuMicros(proxy.pid) - before) / (result.ok + result.non2xx);
    proxyRequestsPerSecond = result.requestsPerSecond;
  } finally {
    await proxy.stop();
  }
  await load({ url, headers, bodies, connections, seconds: 2 }); // warm-up
  await waitForDrain(relay.url);
  const cpuBefore = processCpuMicros(relay.pid);
  const fromMicros = monotonicMicros();
  const result = await load({ url, headers, bodies, connections, seconds });
  const loadEndMicros = monotonicMicros();
  // Up to the empty spool: every payload acknowledged is also forwarded, as the proxy's are (bench/support/relay-drain.ts).
  await waitForDrain(relay.url);
  const toMicros = monotonicMicros();
  measured = {
    fromMicros,
    toMicros,
    requests: result.ok + result.non2xx,
    cpuMicros: processCpuMicros(relay.pid) - cpuBefore,
    requestsPerSecond: result.requestsPerSecond,
    forwardedPerSecond: result.ok / ((toMicros - fromMicros) / 1e6),
    drainSeconds: (toMicros - loadEndMicros) / 1e6,
  };
} finally {
  await relay.stop();
  await sink.stop();
}
const loadEnd = loadavg();

const profile = summariseProfile(mainThreadProfile(profileDir), { fromMicros: measured.fromMicros, toMicros: measured.toMicros });
const proxyProfile = summariseProfile(mainThreadProfile(proxyProfileDir), proxyWindow);
keepAndRemoveProfiles(values.keep, { relay: profileDir, proxy: proxyProfileDir });

const perRequest = measured.cpuMicros / measured.requests;
const r1 = (n: number) => (Math.round(n * 10) / 10).toString();
process.stdout.write(`load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`);
process.stdout.write(`proxy: ${Math.round(proxyRequestsPerSecond)} requests/s (under the profiler), ${r1(proxyCpuPerRequest)} µs CPU per request\n`);
process.stdout.write(
  `relay: ${Math.round(measured.requestsPerSecond)} requests/s acknowledged, ${Math.round(measured.forwardedPerSecond)}/s forwarded up to the empty spool (${measured.drainSeconds.toFixed(1)} s after the load; under the profiler), ${r1(perRequest)} µs CPU per request accepted and forwarded\n\n`,
);
process.stdout.write('self time by origin, µs per request\n');
for (const origin of profile.origins) process.stdout.write(`  ${origin.origin.padEnd(34)} ${r1(origin.share * perRequest).padStart(7)}\n`);
process.stdout.write(`\ntop ${top} functions by self time (share of busy time, µs per request)\n`);
for (const f of profile.functions.slice(0, top))
  process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${r1(f.share * perRequest).padStart(6)}  ${f.name}\n`);
process.stdout.write(`\nproxy: top 10 functions by self time\n`);
for (const f of proxyProfile.functions.slice(0, 10))
  process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${r1(f.share * proxyCpuPerRequest).padStart(6)}  ${f.name}\n`);
process.stdout.write(`load average at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`);
