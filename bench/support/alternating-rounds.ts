/**
 * The measurement every "server vs floor" benchmark shares (issue 18): a warm-up of each, then
 * rounds alternating floor → server, each round printed as it ends, the load average printed
 * at the start and the end, and the ratio (server ÷ floor requests/s) judged on the median and
 * the worst round — so one lucky round cannot carry a goal, and a busy machine shows up in the
 * figures instead of hiding in them.
 */
import { loadavg } from 'node:os';
import type { BenchFigure } from './bench-result.js';
import type { LoadResult } from '../intake-bench-support.js';

export interface RoundsResult {
  rounds: Array<{ round: number; floor: LoadResult; server: LoadResult; ratio: number }>;
  median: number;
  worst: number;
  loadStart: number[];
  loadEnd: number[];
}

const formatLoad = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');

/** `runFloor` / `runServer` each put load on one server for `seconds` (the caller's `load(...)`). */
export async function alternatingRounds(options: {
  rounds: number;
  pointsPerRequest: number;
  runFloor: (seconds: number) => Promise<LoadResult>;
  runServer: (seconds: number) => Promise<LoadResult>;
  seconds: number;
  warmUpSeconds?: number;
}): Promise<RoundsResult> {
  const loadStart = loadavg();
  process.stdout.write(`load average at start (1, 5, 15 min): ${formatLoad(loadStart)}\n`);
  // Warm-up, not counted: both servers' JIT, the server's key cache.
  await options.runFloor(options.warmUpSeconds ?? 2);
  await options.runServer(options.warmUpSeconds ?? 2);
  process.stdout.write('round  floor points/s  server points/s  ratio  server non-2xx  server p99 ms  load (1 min)\n');
  const rounds: RoundsResult['rounds'] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const floor = await options.runFloor(options.seconds);
    const server = await options.runServer(options.seconds);
    const ratio = server.requestsPerSecond / floor.requestsPerSecond;
    rounds.push({ round, floor, server, ratio });
    process.stdout.write(
      `${String(round).padEnd(6)} ${Math.round(floor.requestsPerSecond * options.pointsPerRequest)
        .toString()
        .padStart(15)} ${Math.round(server.requestsPerSecond * options.pointsPerRequest)
        .toString()
        .padStart(16)}  ${ratio.toFixed(3)}  ${String(server.non2xx).padStart(13)}  ${String(server.latencyP99Ms).padStart(13)}  ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }
  const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
  const median = ratios.length % 2 === 1 ? ratios[(ratios.length - 1) / 2]! : (ratios[ratios.length / 2 - 1]! + ratios[ratios.length / 2]!) / 2;
  const worst = ratios[0]!;
  const loadEnd = loadavg();
  process.stdout.write(`median ratio ${median.toFixed(3)}, worst ${worst.toFixed(3)}; load average ${formatLoad(loadStart)} → ${formatLoad(loadEnd)}\n`);
  return { rounds, median, worst, loadStart, loadEnd };
}

/** The figures every such benchmark stores: median, worst, load at start and end. */
export function ratioFigures(result: RoundsResult, what: string, goal: number): BenchFigure[] {
  return [
    { name: `${what}, median round`, value: Number(result.median.toFixed(3)), unit: 'x', goal: `≥ ${goal.toFixed(2)}`, met: result.median >= goal },
    { name: `${what}, worst round`, value: Number(result.worst.toFixed(3)), unit: 'x', goal: `≥ ${goal.toFixed(2)}`, met: result.worst >= goal },
    { name: 'load average (1 min) at start', value: result.loadStart[0]!, unit: '' },
    { name: 'load average (1 min) at end', value: result.loadEnd[0]!, unit: '' },
  ];
}

/** One table row per round, for RESULTS.md. */
export function roundsTable(result: RoundsResult, pointsPerRequest: number): { title: string; columns: string[]; rows: Array<Array<string | number>> } {
  return {
    title: 'Every round (floor first, then the server)',
    columns: ['round', 'floor points/s', 'server points/s', 'ratio', 'server non-2xx', 'server p99 ms'],
    rows: result.rounds.map((r) => [
      r.round,
      Math.round(r.floor.requestsPerSecond * pointsPerRequest),
      Math.round(r.server.requestsPerSecond * pointsPerRequest),
      Number(r.ratio.toFixed(3)),
      r.server.non2xx,
      r.server.latencyP99Ms,
    ]),
  };
}
