/**
 * Issue 14, row 5, against the real `rekey server`: one DogStatsD line with a tag longer than
 * the intake's 200 characters, among 20,000 good counts. The old agent queued it as it was,
 * the intake refused the whole payload (400) and the forwarder deleted it with every valid
 * series of that flush. Now the agent truncates that one tag before queueing: every good
 * count arrives, the long-tag line too (tag cut to 200), and the fix is counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, totalsByHost } from '../rotate/support/fleet.js';
import { stopAgent } from './support/agent-process.js';
import { dogstatsdSender, realServerTestbed, startAgentIn } from './support/real-server.js';
import { waitFor } from './support/recording-intake.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a >200-char tag among 20,000 good counts: every good count is stored, the bad line with its tag truncated', { timeout: 120_000 }, async (t) => {
  const { dir, server, from } = await realServerTestbed(t, 'rekey-agent-longtag-');
  const { agent } = await startAgentIn(t, dir, { apiKey: server.apiKey.key, url: server.url, hostname: 'longtag-host' });

  const send = dogstatsdSender(t, agent.dogstatsdPort);
  const goodPacket = Array.from({ length: 10 }, (_, i) => `longtag.good:1|c|#shard:${i % 2}`).join('\n');
  const longTag = `reason:${'x'.repeat(250)}`;
  let good = 0;
  for (let i = 0; i < 2000; i++) {
    if (i === 1000) await send(`longtag.good:1|c|#shard:0\nlongtag.bad:1|c|#${longTag}\nlongtag.good:1|c|#shard:1`);
    else await send(goodPacket);
    good += i === 1000 ? 2 : 10;
    if (i % 100 === 99) await sleep(20);
  }
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics === good + 1, 10_000, 'every line at the agent');
  await sleep(1500);
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output()); // queues and delivers the open bucket

  await waitFor(
    async () => (await totalsByHost(server, 'longtag.good', server.apiKey.key, from)).get('longtag-host') === good,
    20_000,
    `${good} good counts at the server`,
  );
  const bad = await api(
    server,
    `/api/v1/query?from=${from}&to=${Math.floor(Date.now() / 1000) + 60}&query=${encodeURIComponent('sum:longtag.bad{*} by {reason}')}`,
  );
  assert.equal(bad.status, 200);
  const badSeries = bad.body.series as Array<{ tag_set: string[]; pointlist: Array<[number, number]> }>;
  assert.equal(badSeries.length, 1);
  assert.deepEqual(badSeries[0]!.tag_set, [longTag.slice(0, 200)], 'the tag is truncated to 200 characters');
  assert.deepEqual(
    badSeries[0]!.pointlist.map(([, v]) => v),
    [0.1],
    'one count in a 10 s bucket: 0.1/s, as Datadog shows it',
  );
  const mem = await api(
    server,
    `/api/v1/query?from=${from}&to=${Math.floor(Date.now() / 1000) + 60}&query=${encodeURIComponent('avg:system.mem.total{host:longtag-host}')}`,
  );
  assert.ok((mem.body.series as unknown[]).length > 0, "that flush's host metrics are stored too");
  assert.match(agent.output(), /series changed to fit the intake's limits \(tag longer than 200 characters truncated on longtag\.bad\)/);
  assert.match(agent.output(), /"tagsTruncated":1/);
});
