/**
 * Issue 14, row 6: a graceful restart (SIGTERM, then start) inside one 10 s DogStatsD bucket.
 * The old agent flushed its open bucket on SIGTERM (3000) and the restarted agent sent its
 * own count for the same bucket timestamp (5000), which replaced it at the intake (newest
 * write wins): 3000 counts lost. Now the stopping agent keeps its open buckets in the run
 * path and the next start continues them: the bucket's point ends as 8000.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, stopAgent, writeYamlConfig, type AgentProcess } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { waitFor } from './support/recording-intake.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bucketOf = (ms: number) => Math.floor(ms / 10_000) * 10;

async function sendCounts(socket: dgram.Socket, agent: AgentProcess, metric: string, count: number): Promise<void> {
  const packet = Array.from({ length: 10 }, () => `${metric}:1|c`).join('\n');
  for (let i = 0; i < count / 10; i++) {
    await new Promise<void>((resolve) => socket.send(packet, agent.dogstatsdPort, '127.0.0.1', () => resolve()));
    if (i % 50 === 49) await sleep(5);
  }
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics >= count, 5000, `${count} counts at the agent`);
}

test('SIGTERM then start inside one bucket: 3000 + 5000 counts are stored as 8000, not 5000', { timeout: 120_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-restart-');
  const config = join(dir, 'datadog.yaml');
  const runPath = join(dir, 'run');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'restart-host' });
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  // On a slow machine the restart may cross a bucket boundary; then the attempt proves
  // nothing about "inside one bucket" and is repeated (with a new metric).
  for (let attempt = 1; ; attempt++) {
    const metric = `restart.ticks.${attempt}`;
    const first = await startAgent({ config, runPath, flushInterval: 1 });
    t.after(() => stopAgent(first, 'SIGKILL'));
    // Start early in a bucket: the two runs then have ~9 s for both halves.
    while (Date.now() % 10_000 > 500) await sleep(50);
    const bucket = bucketOf(Date.now());
    await sendCounts(socket, first, metric, 3000);
    assert.equal((await stopAgent(first, 'SIGTERM')).code, 0, first.output());
    assert.ok(existsSync(join(runPath, 'open-buckets.json')), 'the open bucket is kept in the run path');
    const second = await startAgent({ config, runPath, flushInterval: 1 });
    t.after(() => stopAgent(second, 'SIGKILL'));
    assert.ok(!existsSync(join(runPath, 'open-buckets.json')), 'the next start consumed it');
    await sendCounts(socket, second, metric, 5000);
    const sameBucket = bucketOf(Date.now()) === bucket;
    // The bucket closes; the second run queues it with the first run's counts.
    await waitFor(() => intake.sum(metric) === 8000, 20_000, 'the bucket total at the intake').catch(() =>
      assert.fail(`the intake stored ${intake.sum(metric)} of 8000 counts`),
    );
    assert.equal((await stopAgent(second, 'SIGTERM')).code, 0, second.output());
    await sleep(200);
    assert.equal(intake.sum(metric), 8000, 'every count once, none twice');
    if (sameBucket) {
      assert.deepEqual([...intake.series(metric)], [[bucket, 8000]], "one point for the bucket, with both runs' counts");
      assert.match(second.output(), /continuing the DogStatsD buckets the previous run left open/);
      return;
    }
    assert.ok(attempt < 3, 'three restarts in a row crossed a bucket boundary: the machine is too slow for this test');
  }
});
