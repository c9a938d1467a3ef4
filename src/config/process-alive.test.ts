/** isProcessAlive: this process is alive, an exited child is not, nonsense pids are not. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { isProcessAlive } from './process-alive.js';

test('tells a live process from an exited one', () => {
  assert.equal(isProcessAlive(process.pid), true);
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(child.status, 0);
  assert.equal(isProcessAlive(child.pid!), false, 'an exited (and reaped) child');
  for (const pid of [0, -1, Number.NaN, 1.5]) assert.equal(isProcessAlive(pid), false, String(pid));
  assert.equal(isProcessAlive(1), true, 'pid 1 exists (EPERM or not, it is alive)');
});
