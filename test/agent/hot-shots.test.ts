/**
 * hot-shots (a real DogStatsD client) → a real rekey-agent process → an intake: 10,000
 * counter increments and the gauges arrive with exact totals.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import StatsD from 'hot-shots';
import { startAgent, stopAgent, writeYamlConfig } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { waitFor } from './support/recording-intake.js';

test('hot-shots → rekey-agent → intake: 10,000 increments and gauges arrive with exact totals', { timeout: 90_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-hotshots-');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'hotshots-host', extra: 'tags: ["env:test"]' });
  const agent = await startAgent({ config, runPath: join(dir, 'run'), flushInterval: 1 });
  t.after(() => stopAgent(agent, 'SIGKILL'));

  const errors: Error[] = [];
  const client = new StatsD({
    host: '127.0.0.1',
    port: agent.dogstatsdPort,
    protocol: 'udp',
    maxBufferSize: 1200, // multi-metric packets
    bufferFlushInterval: 20,
    errorHandler: (error) => errors.push(error),
  });
  const expectedBySource = { a: 0, b: 0 };
  for (let i = 0; i < 10_000; i++) {
    const source = i % 2 === 0 ? 'a' : 'b';
    client.increment('hotshots.requests', 1, [`src:${source}`]);
    expectedBySource[source]++;
    if (i % 1000 === 999) {
      client.gauge('hotshots.queue_depth', i + 1, ['src:a']);
      await new Promise((resolve) => setTimeout(resolve, 5)); // let the buffer drain (UDP)
    }
  }
  client.histogram('hotshots.latency', 10);
  client.histogram('hotshots.latency', 30);
  await new Promise<void>((resolve) => client.close(() => resolve()));
  assert.deepEqual(errors, []);

  // The buckets close at most 10 s later; then the agent queues and ships them.
  await waitFor(() => intake.sum('hotshots.requests') >= 10_000, 40_000, '10,000 increments at the intake');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // nothing more may arrive
  assert.equal(intake.sum('hotshots.requests'), 10_000);
  assert.equal(intake.sum('hotshots.requests', 'src:a'), expectedBySource.a);
  assert.equal(intake.sum('hotshots.requests', 'src:b'), expectedBySource.b);
  assert.equal(intake.duplicatePoints, 0);
  // The last gauge of the bucket wins; the last gauge sent is 10,000.
  const gauges = intake.series('hotshots.queue_depth');
  assert.equal(Math.max(...gauges.values()), 10_000);
  assert.equal(intake.sum('hotshots.latency.count'), 2);
  assert.equal(Math.max(...intake.series('hotshots.latency.max').values()), 30);
  // Host metrics, the check run and the host metadata were shipped with the same key.
  assert.ok(intake.series('system.mem.total').size > 0, 'system.mem.total');
  assert.ok(intake.series('system.load.1').size > 0, 'system.load.1');
  assert.ok(intake.requests.some((r) => r.path === '/api/v1/check_run' && r.status === 202));
  const metadata = intake.requests.find((r) => r.path === '/intake/' && r.status === 202);
  assert.equal((metadata?.body as { agentVersion?: string }).agentVersion, 'rekey-agent/0.1.0');
  assert.equal((metadata?.body as { internalHostname?: string }).internalHostname, 'hotshots-host');
  const status = await agent.status();
  assert.equal(status.components.dogstatsd.errored, 0);
  assert.ok(status.components.dogstatsd.metrics >= 10_012, `metrics ${status.components.dogstatsd.metrics}`);
  assert.equal(status.apiKey.state, 'accepted');
  assert.equal(status.apiKey.last4, key.slice(-4));
});
