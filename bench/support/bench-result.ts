/**
 * The shape every benchmark under `bench/` can write to `bench/results/<name>.json`, so
 * `npm run bench` (bench/run-all.ts) renders each figure next to its goal in bench/RESULTS.md
 * without knowing the benchmark. Benchmarks that write another shape are still rendered, as
 * a flattened list of their numbers.
 *
 * @example
 *   writeBenchResult('revocation-latency', {
 *     figures: [{ name: 'revocation p99 across 3 nodes', value: 12.4, unit: 'ms', goal: '≤ 50 ms', met: true }],
 *   });
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchFigure {
  /** What was measured, in words a reader of RESULTS.md understands. */
  name: string;
  value: number;
  /** `ms`, `req/s`, `points/s`, `MB`, `%`, `x` (a ratio against a baseline of the same run)… */
  unit: string;
  /** The goal in words (`≤ 50 ms p99`); omit for a figure that only gives context (a baseline). */
  goal?: string;
  /** Whether the goal was met; omit when there is no goal. */
  met?: boolean;
}

/** A table rendered under the figures (a profile's top entries, cost at each scale…). */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  /** A sentence under the table: how to read it, what it was measured with. */
  note?: string;
}

/** A chart the benchmark drew (an SVG file in bench/results/), shown under its tables. */
export interface BenchChart {
  title: string;
  /** File name in bench/results/ (e.g. `cost-growth.svg`). */
  file: string;
}

export interface BenchResult {
  figures: BenchFigure[];
  /** Rendered after the figures, in order. */
  tables?: BenchTable[];
  /** Rendered after the tables, as images. */
  charts?: BenchChart[];
  /** Anything else worth keeping (parameters, raw samples summaries); rendered as JSON. */
  details?: unknown;
}

/** What `writeBenchResult` stores: the result plus when, where and with what it ran. */
export interface StoredBenchResult extends BenchResult {
  bench: string;
  at: string;
  node: string;
}

export const BENCH_RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Writes `bench/results/<name>.json` and returns its path. */
export function writeBenchResult(name: string, result: BenchResult, dir = BENCH_RESULTS_DIR): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`bench name "${name}" must be kebab-case (it names the file)`);
  for (const figure of result.figures) {
    if (!Number.isFinite(figure.value)) throw new Error(`figure "${figure.name}" of ${name} is not a finite number`);
  }
  const stored: StoredBenchResult = { bench: name, at: new Date().toISOString(), node: process.version, ...result };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`);
  return file;
}

/** True when `value` has the shape `writeBenchResult` writes. */
export function isStoredBenchResult(value: unknown): value is StoredBenchResult {
  if (typeof value !== 'object' || value === null) return false;
  const figures = (value as { figures?: unknown }).figures;
  return (
    Array.isArray(figures) &&
    figures.every((f) => typeof f === 'object' && f !== null && typeof f.name === 'string' && typeof f.value === 'number' && typeof f.unit === 'string')
  );
}
