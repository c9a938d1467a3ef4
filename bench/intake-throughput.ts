/**
 * Intake throughput in points per second with 100-point v2 JSON payloads, points stored as
 * the server stores them on SQLite, against a bare `node:http` server that only parses the
 * same JSON (the floor) — measured in the same run, each server in its own process, loaded by
 * autocannon from this process, each variant loaded at the same time as the bare server in
 * each round, so the machine's other load weighs on both alike. Goal: intake ≥ 70% of bare.
 *
 * Variants (all in one run; `--variants` picks some):
 *   intake               durability `process` (the default of rekey server): each batch
 *                        appended to the intake journal before its 202, saved every second
 *   intake-power         durability `power`: the journal append is fdatasync()ed before the
 *                        202 (one per group-committed batch), SQLite commits synchronous=FULL
 *   intake-direct        no journal: each group-commit batch committed to SQLite (WAL,
 *                        synchronous=NORMAL) before its 202 — design (a) of issue 14
 *   intake-direct-power  the same with synchronous=FULL (the WAL fsynced per batch)
 *   intake-nostore       storage switched off: the ceiling everything but storage leaves
 *
 * Usage: node --import tsx bench/intake-throughput.ts [--seconds 5] [--rounds 3] [--connections 20] [--variants intake,intake-power]
 * Writes bench/results/intake-throughput.json; the last line on stderr sums up the ratios.
 */
import { loadavg } from 'node:os';
import { generateKey } from '../src/keys/key-format.js';
import { roundOptions } from './support/round-options.js';
import { hundredPointBodies, load, startBenchServer, writeResult, type BenchServer, type BenchServerMode, type LoadResult } from './intake-bench-support.js';

const ALL = ['intake', 'intake-power', 'intake-direct', 'intake-direct-power', 'intake-nostore'] as const;
type Variant = (typeof ALL)[number];

const { seconds, rounds, connections, extra } = roundOptions({ rounds: 3 }, { variants: ALL.join(',') });
const variants = (extra.variants ?? '').split(',').map((v) => v.trim()) as Variant[];
for (const v of variants) if (!(ALL as readonly string[]).includes(v)) throw new Error(`unknown variant ${v}; use ${ALL.join(', ')}`);
const POINTS_PER_PAYLOAD = 100;

const apiKey = generateKey('api');
const env = { ...process.env, REKEY_BENCH_API_KEY: apiKey };
const bodies = hundredPointBodies(2000);
const headers = { 'content-type': 'application/json', 'dd-api-key': apiKey };
const loadAtStart = loadavg();

/** Each measurement: a variant's round and the bare server's round run at the same time. */
const runs: Array<{ variant: Variant; bare: LoadResult; result: LoadResult }> = [];
const stored: Partial<Record<Variant, number | null>> = {};
/** CPU time the variant's server used, and the points it accepted (warm-up included): a figure the machine's other load barely moves. */
const cpu: Partial<Record<Variant, { micros: number; points: number }>> = {};
const series = (server: BenchServer) => `${server.url}/api/v2/series`;

async function measureRounds(variant: Variant, server: BenchServer, bare: BenchServer): Promise<number> {
  let accepted = (await load({ url: series(server), headers, bodies, connections, seconds: 2 })).ok * POINTS_PER_PAYLOAD;
  for (let round = 0; round < rounds; round++) {
    const [result, baseline] = await Promise.all([
      load({ url: series(server), headers, bodies, connections, seconds }),
      load({ url: series(bare), headers, bodies, connections, seconds }),
    ]);
    runs.push({ variant, bare: baseline, result });
    accepted += result.ok * POINTS_PER_PAYLOAD;
  }
  return accepted;
}

const bare = await startBenchServer('bare', env);
await load({ url: series(bare), headers, bodies, connections, seconds: 2 });
try {
  for (const variant of variants) {
    const server = await startBenchServer(variant satisfies BenchServerMode, env);
    let accepted = 0;
    try {
      accepted = await measureRounds(variant, server, bare);
    } finally {
      const last = await server.stop();
      stored[variant] = last.pointsStored ?? null;
      if (last.cpuMicros !== undefined) cpu[variant] = { micros: last.cpuMicros, points: accepted };
    }
  }
} finally {
  await bare.stop();
}

const pps = (r: LoadResult) => r.requestsPerSecond * POINTS_PER_PAYLOAD;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const figures = Object.fromEntries(
  variants.map((variant) => {
    const picked = runs.filter((r) => r.variant === variant);
    const points = mean(picked.map((r) => pps(r.result)));
    const floor = mean(picked.map((r) => pps(r.bare)));
    const used = cpu[variant];
    return [
      variant,
      {
        points_per_second: Math.round(points),
        bare_points_per_second: Math.round(floor),
        ratio_to_bare: Number((points / floor).toFixed(4)),
        cpu_microseconds_per_point: used === undefined || used.points === 0 ? null : Number((used.micros / used.points).toFixed(3)),
        p50_ms: Math.round(mean(picked.map((r) => r.result.latencyP50Ms))),
        p99_ms: Math.round(mean(picked.map((r) => r.result.latencyP99Ms))),
        distinct_points_in_database_after_run: stored[variant] ?? null,
      },
    ];
  }),
) as Partial<
  Record<
    Variant,
    {
      points_per_second: number;
      bare_points_per_second: number;
      ratio_to_bare: number;
      cpu_microseconds_per_point: number | null;
      p50_ms: number;
      p99_ms: number;
      distinct_points_in_database_after_run: number | null;
    }
  >
>;

const ratio = (v: Variant) => figures[v]?.ratio_to_bare ?? null;
const powerCost = ratio('intake') !== null && ratio('intake-power') !== null ? Number((1 - ratio('intake-power')! / ratio('intake')!).toFixed(4)) : null;
writeResult('intake-throughput', {
  benchmark: 'intake-throughput',
  at: new Date().toISOString(),
  config: {
    seconds,
    rounds,
    connections,
    payload: '100 points (10 series × 10), v2 JSON, 2000 distinct payloads cycled',
    store: 'SQLite; intake: each batch in the intake journal before its 202, saved into SQLite every second (as rekey server); the other variants as named',
    variants,
  },
  load_average_at_start: loadAtStart.map((l) => Number(l.toFixed(2))),
  load_average_at_end: loadavg().map((l) => Number(l.toFixed(2))),
  ...(figures.intake === undefined
    ? {}
    : {
        intake_points_per_second: figures.intake.points_per_second,
        bare_parse_points_per_second: figures.intake.bare_points_per_second,
        ratio_intake_to_bare: figures.intake.ratio_to_bare,
      }),
  ratio_intake_without_storage_to_bare: ratio('intake-nostore'),
  ratio_power_to_bare: ratio('intake-power'),
  ratio_direct_sqlite_to_bare: ratio('intake-direct'),
  ratio_direct_sqlite_power_to_bare: ratio('intake-direct-power'),
  power_cost_vs_process: powerCost,
  goal: 'ratio ≥ 0.70 (durability process, the default)',
  goal_met: ratio('intake') === null ? null : ratio('intake')! >= 0.7,
  variants: figures,
  failed_requests: runs.reduce((n, r) => n + r.result.non2xx + r.result.errors, 0),
  runs: runs.map((r) => ({
    variant: r.variant,
    points_per_second: Math.round(pps(r.result)),
    bare_points_per_second: Math.round(pps(r.bare)),
    p50_ms: r.result.latencyP50Ms,
    p99_ms: r.result.latencyP99Ms,
  })),
});
process.stderr.write(
  `intake-throughput: ratio to bare — ${variants.map((v) => `${v} ${ratio(v)}`).join(', ')}; CPU µs per point — ${variants.map((v) => `${v} ${figures[v]?.cpu_microseconds_per_point}`).join(', ')}; power costs ${powerCost === null ? 'n/a' : `${(powerCost * 100).toFixed(1)} %`} of process; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} → ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
