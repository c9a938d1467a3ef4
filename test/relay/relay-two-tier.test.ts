/**
 * Two tiers, no mock in the data path (issue 19): agents — rekey-agent fed by hot-shots, and
 * the official client's submitMetrics — send to a rekey server in relay mode, which forwards
 * to a second rekey server in standalone mode as the "Datadog" upstream. The points read back
 * from the upstream equal what was sent; the relay stored none of them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import StatsD from 'hot-shots';
import { startAgent, stopAgent, writeYamlConfig } from '../agent/support/agent-process.js';
import { eventually, relayDirs, setUpstream, startNode, type RekeyNode } from './relay-support.js';

function clientFor(node: RekeyNode): client.Configuration {
  return client.createConfiguration({
    authMethods: { apiKeyAuth: node.apiKey, appKeyAuth: node.appKey },
    baseServer: new client.BaseServerConfiguration(node.server.url, {}),
    enableRetry: false,
  });
}

async function sumOf(node: RekeyNode, query: string, from: number): Promise<number> {
  const answer = await new v1.MetricsApi(clientFor(node)).queryMetrics({ from, to: Math.floor(Date.now() / 1000) + 60, query });
  let sum = 0;
  for (const series of answer.series ?? []) for (const point of series.pointlist ?? []) sum += point[1] ?? 0;
  return sum;
}

describe('relay → a second rekey as the upstream', () => {
  let upstream: RekeyNode;
  let relay: RekeyNode;
  const from = Math.floor(Date.now() / 1000) - 120;

  before(async () => {
    [upstream, relay] = await Promise.all([startNode(), startNode()]);
    // The relay holds the upstream's API key; its agents hold only the relay's key.
    await setUpstream(relay, upstream.server.url, upstream.apiKey);
  });
  after(async () => {
    await Promise.all([relay.server.stop(), upstream.server.stop()]);
  });

  it("the official client's submitMetrics: the points read back from the upstream equal what was sent", async () => {
    const api = new v2.MetricsApi(clientFor(relay));
    const now = Math.floor(Date.now() / 1000);
    const values = [1.25, 2.5, 4.75];
    // Relay mode reaches the node within its poll interval; until then points land locally: use a metric name per try.
    let metric = '';
    await eventually(async () => {
      metric = `relay.client.m${Date.now()}`;
      await api.submitMetrics({
        body: {
          series: [
            {
              metric,
              type: 3,
              points: values.map((value, k) => ({ timestamp: now - 30 + k * 10, value })),
              resources: [{ name: 'client-host', type: 'host' }],
            },
          ],
        },
      });
      return (await sumOf(relay, `sum:${metric}{*}`, from)) === 0;
    }, 'relay mode in effect');
    await eventually(async () => (await sumOf(upstream, `sum:${metric}{*}`, from)) === 8.5, 'the points at the upstream', 20_000);
    const answer = await new v1.MetricsApi(clientFor(upstream)).queryMetrics({ from, to: now + 60, query: `avg:${metric}{*}` });
    assert.deepEqual(
      answer.series?.[0]?.pointlist?.map((p) => p[1]),
      values,
    );
    assert.equal(await sumOf(relay, `sum:${metric}{*}`, from), 0, 'the relay stored none');
  });

  it('hot-shots → rekey-agent → relay → upstream: 2,000 increments arrive with the exact total', { timeout: 90_000 }, async () => {
    const dir = relayDirs();
    const config = join(dir, 'datadog.yaml');
    await writeYamlConfig(config, { apiKey: relay.apiKey, url: relay.server.url, hostname: 'relay-agent-host' });
    const agent = await startAgent({ config, runPath: join(dir, 'run'), flushInterval: 1 });
    try {
      const statsd = new StatsD({ host: '127.0.0.1', port: agent.dogstatsdPort, protocol: 'udp', maxBufferSize: 1200, bufferFlushInterval: 20 });
      for (let i = 0; i < 2000; i++) {
        statsd.increment('relay.hotshots.requests', 1, [`src:${i % 2 === 0 ? 'a' : 'b'}`]);
        if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise<void>((resolve) => statsd.close(() => resolve()));
      await eventually(
        async () => (await sumOf(upstream, 'sum:relay.hotshots.requests{*}.as_count()', from)) >= 2000,
        '2,000 increments at the upstream',
        60_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1500)); // nothing more may arrive
      assert.equal(await sumOf(upstream, 'sum:relay.hotshots.requests{*}.as_count()', from), 2000);
      assert.equal(await sumOf(upstream, 'sum:relay.hotshots.requests{src:a}.as_count()', from), 1000);
      assert.equal(await sumOf(relay, 'sum:relay.hotshots.requests{*}.as_count()', from), 0, 'the relay stored none');
    } catch (error) {
      const { runRekey } = await import('../support/processes.js');
      const letters = await runRekey(['upstream', 'dead-letters', '--data', relay.dataDir], { env: relay.env });
      throw new Error(
        `${String(error)} upstream sum ${await sumOf(upstream, 'sum:relay.hotshots.requests{*}.as_count()', from)} relay sum ${await sumOf(relay, 'sum:relay.hotshots.requests{*}.as_count()', from)}\ndead letters: ${letters.stdout}\nrelay: ${relay.server.stderr().slice(-3000)}\nagent: ${agent.output().slice(-3000)}`,
        { cause: error },
      );
    } finally {
      await stopAgent(agent, 'SIGKILL');
    }
  });
});
