/**
 * bench/run-all's machinery on real child processes: every script is discovered and run,
 * a failing one is recorded without stopping the others, and RESULTS.md renders both the
 * writeBenchResult shape (figure, goal, met) and a benchmark's own JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/processes.js';
import { discoverBenchmarks, machineInfo, renderResults, runBenchmark } from '../../bench/support/run-benchmarks.js';

test('runs every bench script, survives a failing one, renders figures and goals', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const results = join(dir, 'results');
  mkdirSync(results);
  const helper = pathToFileURL(join(repoRoot, 'bench/support/bench-result.ts')).href;
  writeFileSync(
    join(dir, 'a-fast.ts'),
    `import { writeBenchResult } from ${JSON.stringify(helper)};
writeBenchResult('a-fast', { figures: [
  { name: 'p99 revocation', value: 12.5, unit: 'ms', goal: '≤ 50 ms', met: true },
  { name: 'cold start', value: 900, unit: 'ms', goal: '≤ 500 ms', met: false },
  { name: 'baseline', value: 1.25, unit: 'ms' },
], tables: [{ title: 'cost by scale', columns: ['series', 'points/s'], rows: [[1000, 0.5], ['10^4', 48000]], note: 'one run' }], charts: [{ title: 'cost by scale', file: 'a-fast.svg' }] }, ${JSON.stringify(results)});\n`,
  );
  writeFileSync(join(dir, 'b-broken.ts'), `console.log('about to fail'); throw new Error('bench exploded'); // would write results/b-broken.json\n`);
  // Helpers beside the benchmarks (a bench server, shared support, type shims) are not run.
  writeFileSync(join(dir, 'b-bench-server.ts'), `throw new Error('a helper must not be run as a benchmark');\n`);
  writeFileSync(join(dir, 'shim.d.ts'), `declare module 'x';\n`);
  writeFileSync(join(dir, 'run-all.ts'), `throw new Error('the runner must not run itself');\n`);
  writeFileSync(
    join(results, 'c-own-format.json'),
    JSON.stringify({ bench: 'c', goal: { p99_ms_max: 5, met: true }, results: [{ dialect: 'sqlite', p99_ms: 3.2 }] }),
  );

  const files = discoverBenchmarks(dir);
  assert.deepEqual(
    files.map((f) => f.slice(dir.length + 1)),
    ['a-fast.ts', 'b-broken.ts'],
  );
  const runs = [];
  for (const file of files) runs.push(await runBenchmark(file, { cwd: repoRoot, timeoutMs: 60_000, quiet: true }));
  assert.equal(runs[0]!.exitCode, 0, runs[0]!.tail);
  assert.equal(runs[1]!.exitCode, 1);
  assert.match(runs[1]!.tail, /bench exploded/);

  const markdown = renderResults({ resultsDir: results, machine: machineInfo(), date: new Date(), runs, command: 'npm run bench' });
  assert.match(markdown, /CPU: .+, \d+ cores/);
  assert.match(markdown, /Node\.js: v20\./);
  assert.match(markdown, /\| `bench\/b-broken\.ts` \| FAILED \(exit 1\)/);
  assert.match(markdown, /### b-broken failed[\s\S]*bench exploded/);
  assert.match(markdown, /\| p99 revocation \| 12\.5 ms \| ≤ 50 ms \| yes \|/);
  assert.match(markdown, /\| cold start \| 900 ms \| ≤ 500 ms \| \*\*no\*\* \|/);
  assert.match(markdown, /\*\*cost by scale\*\*\n\n\| series \| points\/s \|\n\|---\|---\|\n\| 1,000 \| 0\.5 \|\n\| 10\^4 \| 48,000 \|\n\none run/);
  assert.match(markdown, /one run\n\n!\[cost by scale\]\(results\/a-fast\.svg\)\n/);
  assert.match(markdown, /- `goal\.p99_ms_max`: 5/);
  assert.match(markdown, /\| `results\[sqlite\]\.p99_ms` \| 3\.2 \|/);
});
