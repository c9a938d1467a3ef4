/**
 * Where the shipped server's CPU goes on the intake, next to the floor's: the built `rekey
 * server` (as the README starts it, default flags) and the bare `node:http` JSON floor each run
 * under `node --cpu-prof` while autocannon (this process) sends 100-point v2 JSON. Prints and
 * stores: CPU µs per request of each (from /proc, outside the profiler's sampling), self time
 * by origin (rekey, each npm package, Node internals, GC) in µs per request, and the top
 * self-time functions of the server — the list the intake ratio's "not met" points to.
 *
 * Usage: node --import tsx bench/profile-shipped-server.ts [--seconds 10] [--connections 20] [--top 25] [--keep DIR] [--format json|protobuf] [--database sqlite|postgres]
 *   --keep DIR  keep both .cpuprofile files in DIR (open them in Chrome DevTools)
 *   --format protobuf  the Agent's deflated v2 protobuf against the bare protobufjs-decode floor
 *   --database postgres  the server on a fresh PostgreSQL database (bench/support/bench-postgres.ts)
 * Writes bench/results/profile-shipped-server.json (…-protobuf.json with --format protobuf,
 * …-postgres.json with --database postgres).
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchResult, type BenchTable } from './support/bench-result.js';
import {
  PROFILE_OPTIONS,
  keepAndRemoveProfiles,
  mainThreadProfile,
  monotonicMicros,
  summariseProfile,
  type ProfileSummary,
  type SampleWindow,
} from './support/cpu-profile.js';
import { processCpuMicros } from './support/process-cpu.js';
import { createBenchDatabase } from './support/bench-postgres.js';
import { startShippedServer } from './support/shipped-server.js';
import { agentProtobufBodies, hundredPointBodies, load, startBenchServer } from './intake-bench-support.js';

const { values } = parseArgs({
  options: { ...PROFILE_OPTIONS, format: { type: 'string', default: 'json' }, database: { type: 'string', default: 'sqlite' } },
});
if (values.database !== 'sqlite' && values.database !== 'postgres') throw new Error(`--database must be sqlite or postgres, not ${values.database}`);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const top = Number(values.top);

const loadStart = loadavg();
if (values.format !== 'json' && values.format !== 'protobuf') throw new Error(`--format must be json or protobuf, not ${values.format}`);
const protobuf = values.format === 'protobuf';
const bodies: Array<string | Buffer> = protobuf ? agentProtobufBodies(500) : hundredPointBodies(500);
const json: Record<string, string> = protobuf
  ? { 'content-type': 'application/x-protobuf', 'content-encoding': 'deflate' }
  : { 'content-type': 'application/json' };
const payloadName = protobuf ? 'Agent-shaped v2 protobuf (deflate, 100 series × 1 point)' : '100-point v2 JSON';
const profileDirs = { floor: mkdtempSync(join(tmpdir(), 'rekey-prof-floor-')), server: mkdtempSync(join(tmpdir(), 'rekey-prof-server-')) };

interface Measured {
  window: SampleWindow;
  requests: number;
  /** Log lines written per measured request (the server's; the floor logs nothing). */
  logLinesPerRequest: number;
  cpuMicrosPerRequest: number;
  requestsPerSecond: number;
}

async function measure(pid: number, url: string, headers: Record<string, string>, logLines: () => number = () => 0): Promise<Measured> {
  await load({ url, headers, bodies, connections, seconds: 2 }); // warm-up
  const linesBefore = logLines();
  const cpuBefore = processCpuMicros(pid);
  const fromMicros = monotonicMicros();
  const result = await load({ url, headers, bodies, connections, seconds });
  const toMicros = monotonicMicros();
  const cpu = processCpuMicros(pid) - cpuBefore;
  const requests = result.ok + result.non2xx;
  return {
    window: { fromMicros, toMicros },
    requests,
    logLinesPerRequest: (logLines() - linesBefore) / requests,
    cpuMicrosPerRequest: cpu / requests,
    requestsPerSecond: result.requestsPerSecond,
  };
}

const floorServer = await startBenchServer(protobuf ? 'bare-protobuf' : 'bare', process.env, ['--cpu-prof', `--cpu-prof-dir=${profileDirs.floor}`]);
const floor = await measure(floorServer.pid, `${floorServer.url}/api/v2/series`, json);
await floorServer.stop();
const benchDatabase = values.database === 'postgres' ? await createBenchDatabase() : undefined;
const shipped = await startShippedServer({
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDirs.server}`],
  ...(benchDatabase && { env: { REKEY_DATABASE_URL: benchDatabase.url } }),
});
const server = await measure(shipped.pid, `${shipped.url}/api/v2/series`, { ...json, 'dd-api-key': shipped.apiKey }, shipped.logLines);
await shipped.stop();
await benchDatabase?.drop();
const loadEnd = loadavg();

// Only the samples taken while the measured load ran: not start-up, not warm-up, not shutdown.
const floorProfile = summariseProfile(mainThreadProfile(profileDirs.floor), floor.window);
const serverProfile = summariseProfile(mainThreadProfile(profileDirs.server), server.window);
keepAndRemoveProfiles(values.keep, profileDirs);

/** An origin's share of the profile applied to the measured CPU per request. */
function microsPerRequest(profile: ProfileSummary, measured: Measured, origin: string): number {
  const share = profile.origins.find((o) => o.origin === origin)?.share ?? 0;
  return share * measured.cpuMicrosPerRequest;
}
const origins = [...new Set([...serverProfile.origins.map((o) => o.origin), ...floorProfile.origins.map((o) => o.origin)])];
const originRows = origins
  .map((origin) => ({ origin, server: microsPerRequest(serverProfile, server, origin), floor: microsPerRequest(floorProfile, floor, origin) }))
  .sort((a, b) => b.server - b.floor - (a.server - a.floor));
const r1 = (n: number) => Math.round(n * 10) / 10;

process.stdout.write(`load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`);
process.stdout.write(`floor:  ${Math.round(floor.requestsPerSecond)} requests/s, ${r1(floor.cpuMicrosPerRequest)} µs CPU per request\n`);
process.stdout.write(
  `server: ${Math.round(server.requestsPerSecond)} requests/s, ${r1(server.cpuMicrosPerRequest)} µs CPU per request, ${server.logLinesPerRequest.toFixed(2)} log lines per request\n\n`,
);
process.stdout.write('self time by origin, µs per request (server − floor = what the floor does not pay)\n');
for (const row of originRows)
  process.stdout.write(`  ${row.origin.padEnd(34)} server ${r1(row.server).toString().padStart(7)}  floor ${r1(row.floor).toString().padStart(7)}\n`);
process.stdout.write(`\nserver: top ${top} functions by self time (share of busy time)\n`);
for (const f of serverProfile.functions.slice(0, top)) process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}\n`);
process.stdout.write(`\nfloor: top 10 functions by self time\n`);
for (const f of floorProfile.functions.slice(0, 10)) process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}\n`);
process.stdout.write(`load average at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`);

const loadNote = `Load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} → ${loadEnd.map((l) => l.toFixed(2)).join(' ')}; ${seconds} s of ${payloadName} on ${connections} connections per server, after a 2 s warm-up; the server on ${values.database === 'postgres' ? 'PostgreSQL' : 'SQLite'}; \`node --import tsx bench/profile-shipped-server.ts --format ${values.format} --database ${values.database}\`.`;
const tables: BenchTable[] = [
  {
    title: 'Self time by origin, µs of CPU per request (sorted by what the server pays beyond the floor)',
    columns: ['origin', 'server µs/request', 'floor µs/request'],
    rows: originRows.filter((row) => row.server >= 0.5 || row.floor >= 0.5).map((row) => [row.origin, r1(row.server), r1(row.floor)]),
    note: `The profile's share of each origin times the CPU per request measured from /proc. ${loadNote}`,
  },
  {
    title: `Server: top ${top} functions by self time`,
    columns: ['share of busy time', 'µs/request', 'function'],
    rows: serverProfile.functions.slice(0, top).map((f) => [`${(f.share * 100).toFixed(1)} %`, r1(f.share * server.cpuMicrosPerRequest), `\`${f.name}\``]),
  },
];
writeBenchResult(`profile-shipped-server${protobuf ? '-protobuf' : ''}${benchDatabase ? '-postgres' : ''}`, {
  figures: [
    { name: `bare node:http floor, CPU per request (${payloadName})`, value: r1(floor.cpuMicrosPerRequest), unit: 'µs' },
    { name: 'shipped rekey server, CPU per request (same payloads)', value: r1(server.cpuMicrosPerRequest), unit: 'µs' },
    { name: 'server CPU per request / floor CPU per request', value: Number((server.cpuMicrosPerRequest / floor.cpuMicrosPerRequest).toFixed(3)), unit: 'x' },
    {
      name: 'server log lines per intake request',
      value: Number(server.logLinesPerRequest.toFixed(3)),
      unit: 'lines',
      goal: '0 (issue 18: no per-request lines at info)',
      met: server.logLinesPerRequest < 0.01,
    },
    { name: 'load average (1 min) at start', value: loadStart[0]!, unit: '' },
    { name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' },
  ],
  tables,
});
