/**
 * `npm run bench`: runs every benchmark script in bench/ (sequentially, each its own
 * process) and writes bench/RESULTS.md with the machine, the date, each figure and its goal.
 *
 * Usage: node --import tsx bench/run-all.ts [--only SUBSTRING…] [--render-only] [--timeout SECONDS]
 *   --only         run only the benchmarks whose file name contains one of these
 *   --render-only  run nothing; re-render RESULTS.md from bench/results/*.json
 *   --timeout      per-benchmark limit (default 900 s)
 * Exit code 0 when every benchmark that ran succeeded, 1 otherwise (RESULTS.md is written either way).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { discoverBenchmarks, machineInfo, renderResults, runBenchmark, type BenchRun } from './support/run-benchmarks.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(benchDir, '..');
const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    'render-only': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '900' },
  },
});
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  process.stderr.write(`bench/run-all: --timeout must be a number of seconds (got ${values.timeout})\n`);
  process.exit(2);
}

const files = values['render-only'] ? [] : discoverBenchmarks(benchDir).filter((file) => !values.only || values.only.some((part) => file.includes(part)));
const runs: BenchRun[] = [];
for (const [index, file] of files.entries()) {
  process.stderr.write(`\n=== bench ${index + 1}/${files.length}: ${file.slice(repoRoot.length)} ===\n`);
  const run = await runBenchmark(file, { cwd: repoRoot, timeoutMs });
  runs.push(run);
  process.stderr.write(`=== ${run.name}: ${run.exitCode === 0 ? 'ok' : 'FAILED'} in ${(run.durationMs / 1000).toFixed(1)} s ===\n`);
}

const output = join(benchDir, 'RESULTS.md');
writeFileSync(
  output,
  renderResults({
    resultsDir: join(benchDir, 'results'),
    machine: machineInfo(),
    date: new Date(),
    runs,
    command: values['render-only'] ? 'node --import tsx bench/run-all.ts --render-only' : 'npm run bench',
  }),
);
const failed = runs.filter((run) => run.exitCode !== 0);
process.stderr.write(`\nwrote ${output}${failed.length > 0 ? `; failed: ${failed.map((r) => r.name).join(', ')}` : ''}\n`);
process.exit(failed.length > 0 ? 1 : 0);
