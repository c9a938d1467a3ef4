/**
 * Relay mode's cost (issue 19, Must show): the built `rekey server` (dist/cli/main.js, started as
 * the README starts it — bench/support/shipped-server.ts — plus the relay's environment,
 * `REKEY_UPSTREAM_SITE` / `REKEY_UPSTREAM_API_KEY`, which put its organisation in relay mode)
 * forwarding to a local upstream sink, against the floor: a bare `node:http` reverse proxy that
 * stream-pipes each request to the same sink and its answer back. Each in its own process; the
 * sink is a bare `node:http` server that answers 202 once it has read the body.
 *
 * The relay does what users run: verifies the agent's key from memory, counts its usage, spools
 * the body on disk (the 202 is sent once it is there), and delivers it to the sink behind, with
 * the upstream key. The proxy verifies nothing and keeps nothing: the floor.
 *
 *  - Throughput: autocannon, `--connections` at once, rounds alternating proxy → relay, every
 *    round printed; the ratio relay ÷ proxy requests/s (2xx only), goal ≥ 0.80, judged on the
 *    median and the worst round. The relay's rate is its forwarding rate: the payloads it
 *    acknowledged in the round, over the time from the round's start until its spool is empty
 *    again (bench/support/relay-drain.ts). The relay answers 202 once a payload is spooled and
 *    forwards it behind; under this load it acknowledges faster than it forwards, so its rate
 *    of 202s alone would count forwarding not yet done — which the proxy has done before it
 *    answers — and a relay still draining would take CPU from the next proxy round. (Before
 *    2026-12-01 the rate was the 202s' and the next round started at once: 0.559 that way.)
 *    The rate of 202s is printed beside it.
 *  - Added latency: one request in flight (no queueing), `--latency-requests` per target per
 *    round, alternating, timed with process.hrtime (autocannon's percentiles are whole
 *    milliseconds, too coarse for a 2 ms goal); added p99 = relay p99 − proxy p99 of the same
 *    round, goal ≤ 2 ms, judged on the median and the worst round.
 *  - Delivery: after the rounds, every payload the relay acknowledged must reach the sink
 *    (counted by the sink, per upstream key).
 * The load average is printed at the start and the end.
 *
 * Body: 100-point v2 JSON series, gzip-compressed as agents send them.
 *
 * Usage: node --import tsx bench/relay-vs-proxy.ts [--seconds 5] [--rounds 5] [--connections 20] [--latency-requests 1000]
 * Writes bench/results/relay-vs-proxy.json.
 *
 * A/B of two builds: `--baseline <path of another build's cli/main.js>` (e.g. the previous
 * commit's dist/ copied aside inside the repository, so it finds node_modules) starts a second
 * relay from it, and each throughput round then runs proxy, relay and baseline (the two relays'
 * order swapped every round), each latency round all three; it prints relay ÷ proxy, baseline ÷
 * proxy and relay ÷ baseline per round and writes no result file (the stored figures are the
 * plain run's).
 */
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { alternatingRounds, type RoundsResult } from './support/alternating-rounds.js';
import { writeBenchResult } from './support/bench-result.js';
import { processCpuMicros } from './support/process-cpu.js';
import { sinkCounts, startProxy, startSink } from './support/relay-children.js';
import { waitForDrain } from './support/relay-drain.js';
import { startShippedServer, type ShippedServer } from './support/shipped-server.js';
import { hundredPointBodies, load, percentile, type LoadResult } from './intake-bench-support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '20' },
    'latency-requests': { type: 'string', default: '1000' },
    baseline: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const latencyRequests = Number(values['latency-requests']);
const UPSTREAM_KEY = 'bench0relay0upstream0key00000001';

/** `count` requests one after another on one keep-alive connection; each one's milliseconds. */
async function sequentialLatencies(url: string, headers: Record<string, string>, bodies: Buffer[], count: number): Promise<{ ms: number[]; non2xx: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const ms: number[] = [];
  let non2xx = 0;
  try {
    for (let i = 0; i < count; i++) {
      const body = bodies[i % bodies.length]!;
      const started = process.hrtime.bigint();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: { ...headers, 'content-length': String(body.length) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      ms.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (status < 200 || status >= 300) non2xx += 1;
    }
  } finally {
    agent.destroy();
  }
  return { ms, non2xx };
}

const bodies = hundredPointBodies(500).map((body) => gzipSync(body));
const wire = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
const sink = await startSink();
const proxy = await startProxy(sink.url);
const relay = await startShippedServer({ env: { REKEY_UPSTREAM_SITE: sink.url, REKEY_UPSTREAM_API_KEY: UPSTREAM_KEY } });
const relayHeaders = { ...wire, 'dd-api-key': relay.apiKey };
const baseline =
  values.baseline === undefined
    ? undefined
    : await startShippedServer({ script: values.baseline, env: { REKEY_UPSTREAM_SITE: sink.url, REKEY_UPSTREAM_API_KEY: UPSTREAM_KEY } });
const proxyHeaders = { ...wire, 'dd-api-key': relay.apiKey };
let throughput: RoundsResult;
const latencyRounds: Array<{ round: number; proxyP50: number; proxyP99: number; relayP50: number; relayP99: number; added: number; relayNon2xx: number }> = [];
let acknowledged = 0;
let delivered = 0;
/** Per relay run (warm-up first): its rate of 202s, and the seconds its spool took to empty after the load. */
const acknowledgedRates: Array<{ acknowledged: number; drainSeconds: number }> = [];

/**
 * Runs `run` (a load on the relay at `relayUrl`), then waits for the relay's spool to empty: its
 * requests/s become the payloads acknowledged over the whole time, load and drain.
 */
async function forwarding(relayUrl: string, run: () => Promise<LoadResult>): Promise<LoadResult & { acknowledgedPerSecond: number; drainSeconds: number }> {
  const started = performance.now();
  const result = await run();
  const loadEnded = performance.now();
  await waitForDrain(relayUrl);
  const seconds = (performance.now() - started) / 1000;
  return {
    ...result,
    requestsPerSecond: result.ok / seconds,
    acknowledgedPerSecond: result.requestsPerSecond,
    drainSeconds: (performance.now() - loadEnded) / 1000,
  };
}
try {
  // Relay mode is in effect once a payload is forwarded with the upstream key.
  for (let i = 0; i < 100 && !((await sinkCounts(sink))[UPSTREAM_KEY]! > 0); i++) {
    await fetch(`${relay.url}/api/v2/series`, { method: 'POST', headers: relayHeaders, body: bodies[0]! }).then((r) => r.arrayBuffer());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!((await sinkCounts(sink))[UPSTREAM_KEY]! > 0)) throw new Error('the relay forwarded nothing to the sink: relay mode is not in effect');
  if (baseline !== undefined) {
    await abRounds(baseline);
    process.exit(0);
  }
  const before = (await sinkCounts(sink))[UPSTREAM_KEY]!;

  process.stdout.write(
    `throughput: ${connections} connections, ${seconds} s per round, 100-point v2 JSON gzipped (floor = bare node:http stream-pipe proxy, server = rekey relay)\n`,
  );
  throughput = await alternatingRounds({
    rounds,
    seconds,
    pointsPerRequest: 1, // printed as requests/s
    runFloor: (s) => load({ url: `${proxy.url}/api/v2/series`, headers: proxyHeaders, bodies, connections, seconds: s }),
    runServer: async (s) => {
      const result = await forwarding(relay.url, () => load({ url: `${relay.url}/api/v2/series`, headers: relayHeaders, bodies, connections, seconds: s }));
      acknowledged += result.ok;
      acknowledgedRates.push({ acknowledged: result.acknowledgedPerSecond, drainSeconds: result.drainSeconds });
      return result;
    },
  });

  const ackRounds = acknowledgedRates.slice(1); // [0] is the warm-up
  process.stdout.write(
    `relay 202s/s per round (not judged: forwarding lags them): ${ackRounds.map((r, i) => `${Math.round(r.acknowledged)} (÷ proxy ${(r.acknowledged / throughput.rounds[i]!.floor.requestsPerSecond).toFixed(3)}, spool empty ${r.drainSeconds.toFixed(1)} s after the load)`).join(', ')}\n`,
  );

  process.stdout.write(`\nadded latency: one request in flight, ${latencyRequests} requests per target per round\n`);
  process.stdout.write('round  proxy p50 ms  proxy p99 ms  relay p50 ms  relay p99 ms  added p99 ms  relay non-2xx  load (1 min)\n');
  for (let round = 1; round <= rounds; round++) {
    const p = await sequentialLatencies(`${proxy.url}/api/v2/series`, proxyHeaders, bodies, latencyRequests);
    const r = await sequentialLatencies(`${relay.url}/api/v2/series`, relayHeaders, bodies, latencyRequests);
    acknowledged += r.ms.length - r.non2xx;
    const row = {
      round,
      proxyP50: percentile(p.ms, 0.5),
      proxyP99: percentile(p.ms, 0.99),
      relayP50: percentile(r.ms, 0.5),
      relayP99: percentile(r.ms, 0.99),
      added: 0,
      relayNon2xx: r.non2xx,
    };
    row.added = row.relayP99 - row.proxyP99;
    latencyRounds.push(row);
    process.stdout.write(
      `${String(round).padEnd(6)} ${row.proxyP50.toFixed(3).padStart(12)}  ${row.proxyP99.toFixed(3).padStart(12)}  ${row.relayP50.toFixed(3).padStart(12)}  ${row.relayP99.toFixed(3).padStart(12)}  ${row.added.toFixed(3).padStart(12)}  ${String(r.non2xx).padStart(13)}  ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }

  // Every acknowledged payload reaches the sink (delivery runs behind the 202).
  const deadline = Date.now() + 60_000;
  do {
    delivered = (await sinkCounts(sink))[UPSTREAM_KEY]! - before;
    if (delivered >= acknowledged) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  } while (Date.now() < deadline);
  // The sink may count a few more: requests in flight when autocannon's time ran out were
  // answered (and delivered) after it stopped counting — at most one per connection per run.
  process.stdout.write(
    `\nrelay: ${acknowledged} payloads acknowledged during the rounds (warm-up included; autocannon does not count the ≤ ${connections} in flight when a run ends), ${delivered} delivered to the sink\n`,
  );
} finally {
  await baseline?.stop();
  await relay.stop();
  await proxy.stop();
  await sink.stop();
}

/** `--baseline`: proxy, relay and baseline in every round (the relays' order swapped each round); printed only. */
async function abRounds(base: ShippedServer): Promise<void> {
  const baseHeaders = { ...wire, 'dd-api-key': base.apiKey };
  const run = (url: string, headers: Record<string, string>, s: number) => load({ url: `${url}/api/v2/series`, headers, bodies, connections, seconds: s });
  // Each relay's own CPU (/proc utime + stime) per acknowledged request: unlike requests/s, it
  // hardly moves when other processes take the cores (the counting runs after the 202, in it).
  const cpu = { relay: [] as number[], baseline: [] as number[] };
  const runRelay = async (which: 'relay' | 'baseline') => {
    const server = which === 'relay' ? relay : base;
    const before = processCpuMicros(server.pid);
    const result = await forwarding(server.url, () => run(server.url, which === 'relay' ? relayHeaders : baseHeaders, seconds));
    cpu[which].push((processCpuMicros(server.pid) - before) / result.ok); // accepting and forwarding
    return result;
  };
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  process.stdout.write(`A/B: ${connections} connections, ${seconds} s per run; load average at start ${fmt(loadavg())}\n`);
  for (const [url, headers] of [
    [proxy.url, proxyHeaders],
    [relay.url, relayHeaders],
    [base.url, baseHeaders],
  ] as const)
    await run(url, headers, 2); // warm-up
  await waitForDrain(relay.url);
  await waitForDrain(base.url);
  process.stdout.write(
    'round  proxy req/s  relay req/s  baseline req/s  relay÷proxy  baseline÷proxy  relay÷baseline  relay CPU µs/req  baseline CPU µs/req  non-2xx  load (1 min)\n',
  );
  const ratios = { relay: [] as number[], baseline: [] as number[], ab: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const p = await run(proxy.url, proxyHeaders, seconds);
    const first = round % 2 === 1 ? 'relay' : 'baseline';
    const a = await runRelay(first);
    const b = await runRelay(first === 'relay' ? 'baseline' : 'relay');
    const [r, o] = first === 'relay' ? [a, b] : [b, a];
    ratios.relay.push(r.requestsPerSecond / p.requestsPerSecond);
    ratios.baseline.push(o.requestsPerSecond / p.requestsPerSecond);
    ratios.ab.push(r.requestsPerSecond / o.requestsPerSecond);
    process.stdout.write(
      `${String(round).padEnd(6)} ${p.requestsPerSecond.toFixed(0).padStart(11)}  ${r.requestsPerSecond.toFixed(0).padStart(11)}  ${o.requestsPerSecond.toFixed(0).padStart(14)}  ${ratios.relay.at(-1)!.toFixed(3).padStart(11)}  ${ratios.baseline.at(-1)!.toFixed(3).padStart(14)}  ${ratios.ab.at(-1)!.toFixed(3).padStart(14)}  ${cpu.relay.at(-1)!.toFixed(0).padStart(16)}  ${cpu.baseline.at(-1)!.toFixed(0).padStart(19)}  ${String(r.non2xx + o.non2xx).padStart(7)}  ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    '\nlatency: one request in flight, p99 ms (added = minus the proxy p99 of the same round)\nround  proxy p99  relay p99  baseline p99  relay added  baseline added  load (1 min)\n',
  );
  const added = { relay: [] as number[], baseline: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const p = percentile((await sequentialLatencies(`${proxy.url}/api/v2/series`, proxyHeaders, bodies, latencyRequests)).ms, 0.99);
    const r = percentile((await sequentialLatencies(`${relay.url}/api/v2/series`, relayHeaders, bodies, latencyRequests)).ms, 0.99);
    const o = percentile((await sequentialLatencies(`${base.url}/api/v2/series`, baseHeaders, bodies, latencyRequests)).ms, 0.99);
    added.relay.push(r - p);
    added.baseline.push(o - p);
    process.stdout.write(
      `${String(round).padEnd(6)} ${p.toFixed(3).padStart(9)}  ${r.toFixed(3).padStart(9)}  ${o.toFixed(3).padStart(12)}  ${(r - p).toFixed(3).padStart(11)}  ${(o - p).toFixed(3).padStart(14)}  ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `\nrelay ÷ proxy: median ${median(ratios.relay).toFixed(3)}, worst ${Math.min(...ratios.relay).toFixed(3)}; baseline ÷ proxy: median ${median(ratios.baseline).toFixed(3)}, worst ${Math.min(...ratios.baseline).toFixed(3)}; relay ÷ baseline: median ${median(ratios.ab).toFixed(3)}, worst ${Math.min(...ratios.ab).toFixed(3)}\n` +
      `CPU µs per request: relay median ${median(cpu.relay).toFixed(0)}, baseline median ${median(cpu.baseline).toFixed(0)}, relay ÷ baseline ${(median(cpu.relay) / median(cpu.baseline)).toFixed(3)}\n` +
      `added p99: relay median ${median(added.relay).toFixed(3)} ms, worst ${Math.max(...added.relay).toFixed(3)} ms; baseline median ${median(added.baseline).toFixed(3)} ms, worst ${Math.max(...added.baseline).toFixed(3)} ms; load average at end ${fmt(loadavg())}\n`,
  );
  await base.stop();
  await relay.stop();
  await proxy.stop();
  await sink.stop();
}

const added = latencyRounds.map((r) => r.added).sort((a, b) => a - b);
const addedMedian = added.length % 2 === 1 ? added[(added.length - 1) / 2]! : (added[added.length / 2 - 1]! + added[added.length / 2]!) / 2;
const addedWorst = added[added.length - 1]!;
const loadEnd = loadavg();
process.stdout.write(
  `\nrequests/s relay ÷ proxy: median ${throughput.median.toFixed(3)}, worst ${throughput.worst.toFixed(3)} (goal ≥ 0.80); added p99: median ${addedMedian.toFixed(3)} ms, worst ${addedWorst.toFixed(3)} ms (goal ≤ 2 ms); load average at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\n`,
);

writeBenchResult('relay-vs-proxy', {
  figures: [
    {
      name: 'relay ÷ bare node:http stream-pipe proxy, requests/s, median round',
      value: Number(throughput.median.toFixed(3)),
      unit: 'x',
      goal: '≥ 0.80',
      met: throughput.median >= 0.8,
    },
    {
      name: 'relay ÷ bare node:http stream-pipe proxy, requests/s, worst round',
      value: Number(throughput.worst.toFixed(3)),
      unit: 'x',
      goal: '≥ 0.80',
      met: throughput.worst >= 0.8,
    },
    {
      name: 'added p99 latency (relay p99 − proxy p99, one request in flight), median round',
      value: Number(addedMedian.toFixed(3)),
      unit: 'ms',
      goal: '≤ 2 ms',
      met: addedMedian <= 2,
    },
    { name: 'added p99 latency, worst round', value: Number(addedWorst.toFixed(3)), unit: 'ms', goal: '≤ 2 ms', met: addedWorst <= 2 },
    {
      name: 'payloads the relay acknowledged and the sink did not receive',
      value: Math.max(0, acknowledged - delivered),
      unit: 'payloads',
      goal: '0',
      met: delivered >= acknowledged,
    },
    { name: 'load average (1 min) at start', value: throughput.loadStart[0]!, unit: '' },
    { name: 'load average (1 min) at end', value: loadEnd[0]!, unit: '' },
  ],
  tables: [
    {
      title: 'Throughput rounds (proxy first, then the relay)',
      note: "The relay's requests/s: payloads acknowledged in the round over the time until its spool was empty again (forwarded); its 202s/s beside it.",
      columns: [
        'round',
        'proxy req/s',
        'relay req/s (forwarded)',
        'ratio',
        'relay 202s/s',
        'relay spool empty after, s',
        'relay non-2xx',
        'proxy p99 ms',
        'relay p99 ms',
      ],
      rows: throughput.rounds.map((r, i) => [
        r.round,
        Math.round(r.floor.requestsPerSecond),
        Math.round(r.server.requestsPerSecond),
        Number(r.ratio.toFixed(3)),
        Math.round(acknowledgedRates[i + 1]!.acknowledged),
        Number(acknowledgedRates[i + 1]!.drainSeconds.toFixed(1)),
        r.server.non2xx,
        r.floor.latencyP99Ms,
        r.server.latencyP99Ms,
      ]),
    },
    {
      title: 'Latency rounds (one request in flight)',
      columns: ['round', 'proxy p50 ms', 'proxy p99 ms', 'relay p50 ms', 'relay p99 ms', 'added p99 ms', 'relay non-2xx'],
      rows: latencyRounds.map((r) => [
        r.round,
        Number(r.proxyP50.toFixed(3)),
        Number(r.proxyP99.toFixed(3)),
        Number(r.relayP50.toFixed(3)),
        Number(r.relayP99.toFixed(3)),
        Number(r.added.toFixed(3)),
        r.relayNon2xx,
      ]),
      note: 'Timed with process.hrtime around each request on one keep-alive connection; the body is one of 500 gzipped 100-point v2 JSON payloads.',
    },
  ],
  details: { seconds, rounds, connections, latencyRequests, acknowledged, delivered },
});
