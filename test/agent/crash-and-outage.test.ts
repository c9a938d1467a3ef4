/**
 * The queue's promises with real processes: an agent SIGKILLed mid-flush and restarted
 * delivers what it had queued, none of it twice; an intake down for 60 s (REKEY_TEST_OUTAGE_S
 * shortens it) gets everything once it is back.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, stopAgent, writeYamlConfig } from './support/agent-process.js';
import { counterSender } from './support/counter-sender.js';
import { agentTestbed } from './support/testbed.js';
import { waitFor } from './support/recording-intake.js';

const OUTAGE_MS = Number(process.env.REKEY_TEST_OUTAGE_S ?? 60) * 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SeriesBody {
  series: Array<{ metric: string; points: Array<[number, number]>; type?: string; interval?: number }>;
}

test('SIGKILL mid-flush, then restart: queued payloads are delivered, none twice', { timeout: 120_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-kill-');
  const config = join(dir, 'datadog.yaml');
  const runPath = join(dir, 'run');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'killed-host' });
  intake.mode = 'error500'; // everything stays queued
  let agent = await startAgent({ config, runPath, flushInterval: 1 });
  t.after(() => stopAgent(agent, 'SIGKILL'));
  const sender = counterSender(() => agent.dogstatsdPort, 'crash.ticks');
  t.after(() => sender.stop());
  await waitFor(() => intake.requests.filter((r) => r.status === 500).length >= 3, 30_000, 'failed deliveries');
  await sleep(12_000); // at least one DogStatsD bucket closes and is queued
  assert.ok((await agent.status()).queue.depth >= 10);
  // Kill while the agent is flushing: right after a new flush shows in its status.
  const lastFlush = (await agent.status()).lastFlushAt;
  await waitFor(async () => (await agent.status()).lastFlushAt !== lastFlush, 5000, 'the next flush');
  const killed = await stopAgent(agent, 'SIGKILL');
  await sender.stop();
  assert.equal(killed.signal, 'SIGKILL');

  // The queue on disk is the promise: read what it holds before the restart.
  const queuedFiles = (await readdir(join(runPath, 'queue'))).filter((f) => f.endsWith('.payload'));
  assert.ok(queuedFiles.length >= 10);
  const queuedTicks = new Map<number, number>();
  for (const file of queuedFiles) {
    const content = await readFile(join(runPath, 'queue', file));
    const newline = content.indexOf(0x0a);
    const header = JSON.parse(content.subarray(0, newline).toString()) as { path: string };
    if (header.path !== '/api/v1/series') continue;
    const body = JSON.parse(inflateSync(content.subarray(newline + 1)).toString()) as SeriesBody;
    // A counter goes out as a rate (per second over the interval); the intake stores what it counts.
    for (const s of body.series)
      if (s.metric === 'crash.ticks')
        for (const [ts, v] of s.points) queuedTicks.set(ts, s.type === 'rate' ? Math.round(v * (s.interval ?? 1) * 1e9) / 1e9 : v);
  }
  assert.ok(queuedTicks.size >= 1, 'at least one closed bucket of crash.ticks was queued before the kill');
  const attempted = new Set(intake.requests.filter((r) => r.payloadId).map((r) => r.payloadId!));

  intake.mode = 'ok';
  agent = await startAgent({ config, runPath, flushInterval: 1 });
  await waitFor(
    async () => {
      const s = await agent.status();
      return s.queue.depth <= 2 && s.components.destinations[0]!.sent >= queuedFiles.length;
    },
    60_000,
    'the old queue to be delivered',
  );
  for (const file of queuedFiles) {
    const id = file.split('.')[0]!;
    assert.equal(intake.acceptedPayloadIds.get(id), 1, `payload ${id} accepted once`);
  }
  for (const id of attempted) assert.equal(intake.acceptedPayloadIds.get(id), 1, `payload ${id} accepted once`);
  assert.deepEqual(intake.payloadsAcceptedTwice(), []);
  assert.equal(intake.duplicatePoints, 0);
  const stored = intake.series('crash.ticks');
  for (const [ts, value] of queuedTicks) assert.equal(stored.get(ts), value, `bucket ${ts}`);
  const exit = await stopAgent(agent, 'SIGTERM');
  assert.equal(exit.code, 0);
});

test(`intake down for ${OUTAGE_MS / 1000} s: everything arrives after it returns`, { timeout: OUTAGE_MS + 90_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-outage-');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'outage-host' });
  // Backoff capped at 5 s so the test does not wait up to 64 s after the intake returns.
  const agent = await startAgent({
    config,
    runPath: join(dir, 'run'),
    flushInterval: 1,
    env: { REKEY_AGENT_BACKOFF_BASE_MS: '1000', REKEY_AGENT_BACKOFF_MAX_MS: '5000' },
  });
  t.after(() => stopAgent(agent, 'SIGKILL'));
  const sender = counterSender(() => agent.dogstatsdPort, 'outage.ticks');
  t.after(() => sender.stop());
  await waitFor(async () => (await agent.status()).components.destinations[0]!.sent >= 2, 20_000, 'first deliveries');

  await intake.down();
  await sleep(OUTAGE_MS);
  const during = await agent.status();
  assert.ok(during.queue.depth >= OUTAGE_MS / 1000, `queue depth ${during.queue.depth}`);
  assert.match(during.intake.lastError ?? '', /network error/);
  await intake.up();

  await sleep(2000);
  await sender.stop();
  await waitFor(async () => (await agent.status()).queue.depth === 0, 30_000, 'the backlog to drain');
  const exit = await stopAgent(agent, 'SIGTERM'); // queues and delivers the open bucket
  assert.equal(exit.code, 0, agent.output());
  assert.equal(intake.sum('outage.ticks'), sender.sent, `stored ${intake.sum('outage.ticks')} of ${sender.sent}`);
  assert.equal(intake.duplicatePoints, 0);
  assert.deepEqual(intake.payloadsAcceptedTwice(), []);
  // One agent.up check run per flush, including the whole outage.
  const checkRuns = intake.requests.filter((r) => r.path === '/api/v1/check_run' && r.status === 202).length;
  assert.ok(checkRuns >= OUTAGE_MS / 1000, `${checkRuns} check runs`);
});
