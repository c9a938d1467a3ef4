/**
 * What the relay's counting of a forwarded JSON series body costs (issue 19,
 * src/relay/forwarded-usage.ts): the built single-pass counter (dist/relay/json-points.js)
 * against the floor it replaced, JSON.parse then the fields (dist/relay/json-points-oracle.js),
 * on the same decoded bytes, in rounds of ten alternating slices (old → new), µs of process
 * CPU per body, every round printed with the load average; both must agree on every body before anything is timed.
 *
 * Bodies (v2 JSON series, as bench/relay-vs-proxy.ts sends):
 *  - the relay bench's own: 500 payloads of 100 points (~5 KB plain, ~490 B gzipped);
 *  - one of ~64 KiB (the largest a series route reads without a work scan);
 *  - one of ~3 MB (scanned first by the caps in both paths: the scan is timed on its own).
 * For context it also times gunzip of the 100-point payload (decodeWithCaps's synchronous path)
 * and the whole built readForwardedPoints on it.
 *
 * Usage: node --import tsx bench/relay-count.ts [--rounds 7] [--ms 400]
 * Writes bench/results/relay-count.json.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { gzipSync, gunzipSync } from 'node:zlib';
import { writeBenchResult } from './support/bench-result.js';
import { ensureBuilt, repoRoot } from './support/shipped-server.js';
import { hundredPointBodies } from './intake-bench-support.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, ms: { type: 'string', default: '400' } } });
const rounds = Number(values.rounds);
const roundMs = Number(values.ms);

ensureBuilt();
const dist = (path: string) => new URL(`dist/${path}`, `file://${repoRoot}`).href;
type Counts = Map<string, number> | undefined;
const { countJsonPoints } = (await import(dist('relay/json-points.js'))) as { countJsonPoints: (format: 'v2', body: Uint8Array) => Counts };
const { countParsedJsonPoints } = (await import(dist('relay/json-points-oracle.js'))) as { countParsedJsonPoints: (format: 'v2', body: Buffer) => Counts };
const { readForwardedPoints } = (await import(dist('relay/forwarded-usage.js'))) as {
  readForwardedPoints: (path: string, headers: Array<[string, string]>, body: Buffer, limits: unknown) => Promise<Counts>;
};
const { scanJson, DEFAULT_PAYLOAD_CAPS } = (await import(dist('intake/payload-caps.js'))) as {
  scanJson: (b: Buffer, caps: unknown) => Promise<void>;
  DEFAULT_PAYLOAD_CAPS: unknown;
};
const { V2_LIMITS } = (await import(dist('intake/intake-limits.js'))) as { V2_LIMITS: unknown };

/** A v2 body of about `bytes`: 100-point payloads' series, concatenated. */
function bodyOfAbout(bytes: number): Buffer {
  const series: unknown[] = [];
  const one = JSON.parse(hundredPointBodies(1)[0]!) as { series: unknown[] };
  let size = 20;
  for (let i = 0; size < bytes; i++) {
    const s = one.series[i % one.series.length]!;
    series.push(s);
    size += JSON.stringify(s).length + 1;
  }
  return Buffer.from(JSON.stringify({ series }));
}

const small = hundredPointBodies(500).map((text) => Buffer.from(text));
const cases: Array<{ name: string; bodies: Buffer[] }> = [
  { name: `100-point payload (${small[0]!.length} B)`, bodies: small },
  { name: '64 KiB body', bodies: [bodyOfAbout(64 * 1024 - 200)] },
  { name: '3 MB body', bodies: [bodyOfAbout(3_000_000)] },
];
for (const { name, bodies } of cases) {
  for (const body of bodies) {
    const a = JSON.stringify([...countJsonPoints('v2', body)!]);
    const b = JSON.stringify([...countParsedJsonPoints('v2', body)!]);
    if (a !== b) throw new Error(`${name}: the counters disagree`);
  }
}

/**
 * µs of this process's CPU (user + system: process.cpuUsage) per call of `run` over `bodies`,
 * cycling, for about `ms` milliseconds. CPU, not wall time: on the shared machine the wall
 * clock also counts the time other processes hold the cores.
 */
function time(bodies: Buffer[], run: (body: Buffer) => unknown, ms: number): number {
  let calls = 0;
  const until = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  const cpu = process.cpuUsage();
  const batch = bodies[0]!.length > 1_000_000 ? 1 : 10;
  do for (let i = 0; i < batch; i++) run(bodies[calls++ % bodies.length]!);
  while (process.hrtime.bigint() < until);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / calls;
}

/** One round: `blocks` alternating slices of old then new (load changes within a round hit both), µs per body each. */
function alternate(bodies: Buffer[], ms: number, blocks = 10): { old: number; now: number } {
  let old = 0;
  let now = 0;
  for (let b = 0; b < blocks; b++) {
    old += time(bodies, (body) => countParsedJsonPoints('v2', body), ms / blocks);
    now += time(bodies, (body) => countJsonPoints('v2', body), ms / blocks);
  }
  return { old: old / blocks, now: now / blocks };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

process.stdout.write(
  `load average at start (1, 5, 15 min): ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
const results: Array<{ name: string; oldUs: number[]; newUs: number[] }> = [];
for (const { name, bodies } of cases) {
  const ms = bodies[0]!.length > 1_000_000 ? roundMs * 3 : roundMs;
  time(bodies, (b) => countParsedJsonPoints('v2', b), ms / 2); // warm-up
  time(bodies, (b) => countJsonPoints('v2', b), ms / 2);
  process.stdout.write(`\n${name}: µs per body, JSON.parse + fields (old) vs single pass (new)\nround  old µs      new µs      new/old  load (1 min)\n`);
  const row = { name, oldUs: [] as number[], newUs: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const { old, now } = alternate(bodies, ms);
    row.oldUs.push(old);
    row.newUs.push(now);
    process.stdout.write(
      `${String(round).padEnd(6)} ${old.toFixed(2).padStart(10)}  ${now.toFixed(2).padStart(10)}  ${(now / old).toFixed(3).padStart(7)}  ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }
  results.push(row);
}

// Context: what else the counting of one 100-point payload costs.
const gzipped = small.map((b) => gzipSync(b));
const gunzipUs = median(Array.from({ length: rounds }, () => time(gzipped, (b) => gunzipSync(b), roundMs)));
const headers: Array<[string, string]> = [
  ['content-type', 'application/json'],
  ['content-encoding', 'gzip'],
];
const forwardedUs: number[] = [];
for (let round = 0; round < rounds; round++) {
  const started = process.hrtime.bigint();
  let calls = 0;
  while (Number(process.hrtime.bigint() - started) / 1e6 < roundMs)
    await readForwardedPoints('/api/v2/series', headers, gzipped[calls++ % gzipped.length]!, V2_LIMITS);
  forwardedUs.push(Number(process.hrtime.bigint() - started) / 1e3 / calls);
}
const big = cases[2]!.bodies[0]!;
const scanStarted = process.hrtime.bigint();
for (let i = 0; i < 5; i++) await scanJson(big, DEFAULT_PAYLOAD_CAPS);
const scan3MbUs = Number(process.hrtime.bigint() - scanStarted) / 1e3 / 5;

const loadEnd = loadavg();
process.stdout.write(`\nmedians (µs per body):\n`);
for (const r of results)
  process.stdout.write(
    `  ${r.name}: old ${median(r.oldUs).toFixed(2)}, new ${median(r.newUs).toFixed(2)}, new/old ${(median(r.newUs) / median(r.oldUs)).toFixed(3)}\n`,
  );
process.stdout.write(
  `  gunzipSync of the 100-point payload: ${gunzipUs.toFixed(2)}; whole readForwardedPoints (gzip, new counter): ${median(forwardedUs).toFixed(2)}; the caps' scan of the 3 MB body (both paths): ${scan3MbUs.toFixed(0)}\n`,
);
process.stdout.write(`load average at end: ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`);

writeBenchResult('relay-count', {
  figures: [
    ...results.flatMap((r) => [
      { name: `${r.name}: JSON.parse + fields, µs per body (median round)`, value: Number(median(r.oldUs).toFixed(2)), unit: 'µs' },
      { name: `${r.name}: single-pass counter, µs per body (median round)`, value: Number(median(r.newUs).toFixed(2)), unit: 'µs' },
      {
        name: `${r.name}: single pass ÷ JSON.parse`,
        value: Number((median(r.newUs) / median(r.oldUs)).toFixed(3)),
        unit: 'x',
        goal: '< 1',
        met: median(r.newUs) < median(r.oldUs),
      },
    ]),
    { name: 'gunzipSync of the 100-point payload, µs', value: Number(gunzipUs.toFixed(2)), unit: 'µs' },
    { name: 'whole readForwardedPoints of the gzipped 100-point payload, µs', value: Number(median(forwardedUs).toFixed(2)), unit: 'µs' },
    { name: "the caps' scan of the 3 MB body (done in both paths), µs", value: Number(scan3MbUs.toFixed(0)), unit: 'µs' },
    { name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' },
  ],
  tables: results.map((r) => ({
    title: `${r.name}: µs per body, alternating rounds`,
    columns: ['round', 'JSON.parse + fields µs', 'single pass µs', 'ratio'],
    rows: r.oldUs.map((old, i) => [i + 1, Number(old.toFixed(2)), Number(r.newUs[i]!.toFixed(2)), Number((r.newUs[i]! / old).toFixed(3))]),
  })),
  details: { rounds, roundMs },
});
