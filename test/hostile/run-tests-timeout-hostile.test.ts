/**
 * scripts/run-tests.mjs's per-file timeout (REKEY_TEST_FILE_TIMEOUT_S) set very large, as an
 * operator would to mean "no timeout": 3,000,000 s is more than setTimeout's 2^31 - 1 ms, which
 * Node fires at once — every file was stopped after ~0.1 s and reported "still running after
 * 3000000 s". A real run of the runner over one small passing file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;

it('a timeout longer than setTimeout can wait still lets a passing file pass', () => {
  const run = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'src/intake/serial-flush.test.ts'], {
    cwd: root,
    env: { ...process.env, REKEY_TEST_FILE_TIMEOUT_S: '3000000' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.doesNotMatch(run.stdout, /still running after/, run.stdout);
  assert.match(run.stdout, /^# pass [1-9]\d*$/m, run.stdout);
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
