/**
 * Real faults on rekey-agent's run path while DogStatsD traffic flows: the run path is a small
 * tmpfs that is filled up by bytes (~10 s), then by inodes (~6 s), then remounted read-only
 * (~10 s), each time freed again. Every count sent over UDP must be stored by the intake,
 * exactly once. (Issue 14, row 4: the old agent took the series out of the aggregator and
 * discarded them when the queue write failed.) Needs root (mount).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, stopAgent, writeYamlConfig } from '../agent/support/agent-process.js';
import { counterSender } from '../agent/support/counter-sender.js';
import { agentTestbed } from '../agent/support/testbed.js';
import { waitFor } from '../agent/support/recording-intake.js';
import { fillBytes, fillInodes, mountTmpfs, sleep } from './fault-support.js';

test('run path full (bytes, inodes) and read-only while DogStatsD flows: every count sent is stored once', { timeout: 120_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-faults-');
  const mount = mountTmpfs('rekey-agent-runpath-', '4m', 512);
  const runPath = join(mount.dir, 'run');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'faulty-disk-host' });
  const agent = await startAgent({ config, runPath, flushInterval: 1 });
  t.after(async () => {
    await stopAgent(agent, 'SIGKILL');
    try {
      execFileSync('mount', ['-o', 'remount,rw', mount.dir]);
    } catch {
      // already rw, or unmounted
    }
    mount.unmount();
  });
  const sender = counterSender(agent.dogstatsdPort, 'fault.ticks', { linesPerPacket: 10, intervalMs: 20 }); // 500 counts/s
  t.after(() => sender.stop());
  await waitFor(async () => (await agent.status()).components.destinations[0]!.sent >= 2, 20_000, 'first deliveries');

  // 1. Full by bytes for 10 s.
  const filler = fillBytes(mount.dir);
  await sleep(10_000);
  const full = await agent.status();
  assert.match(full.queue.lastWriteError ?? '', /ENOSPC/, 'the queue writes failed with ENOSPC');
  rmSync(filler);
  await sleep(3000);
  assert.equal((await agent.status()).queue.lastWriteError, null, 'writes succeed again once space is back');

  // 2. Full by inodes for 6 s.
  const holder = fillInodes(mount.dir);
  await sleep(6000);
  assert.match((await agent.status()).queue.lastWriteError ?? '', /ENOSPC/, 'no inode left');
  rmSync(holder, { recursive: true, force: true });
  await sleep(3000);

  // 3. Read-only for 10 s.
  execFileSync('mount', ['-o', 'remount,ro', mount.dir]);
  await sleep(10_000);
  assert.match((await agent.status()).queue.lastWriteError ?? '', /EROFS/, 'the queue writes failed with EROFS');
  execFileSync('mount', ['-o', 'remount,rw', mount.dir]);
  await sleep(3000);

  await sender.stop();
  const before = await agent.status();
  assert.ok(before.queue.writeErrors > 10, `write errors ${before.queue.writeErrors}`);
  assert.equal(before.queue.memoryDropped, 0, 'the memory buffer never overflowed');
  assert.equal(before.components.dogstatsd.kernelDrops, 0, "the kernel dropped no datagram (so any loss would be the agent's)");
  assert.equal(before.components.dogstatsd.metrics, sender.sent, 'every line reached the agent');
  const exit = await stopAgent(agent, 'SIGTERM'); // queues and delivers the open bucket
  assert.equal(exit.code, 0, agent.output());

  assert.equal(intake.sum('fault.ticks'), sender.sent, `stored ${intake.sum('fault.ticks')} of ${sender.sent} sent`);
  assert.equal(intake.duplicatePoints, 0);
  assert.ok(!agent.output().includes(key), 'the key is never logged');
});
