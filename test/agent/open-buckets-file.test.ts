/**
 * `<run path>/open-buckets.json` as an operator meets it: the hostname changed between the
 * stop and the start, and a file that is damaged or edited by hand. Real agent processes
 * against the recording intake.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent, stopAgent, writeYamlConfig, type AgentProcess } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { agentCommand } from '../support/processes.js';
import { waitFor } from './support/recording-intake.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bucketOf = (ms: number) => Math.floor(ms / 10_000) * 10;

async function sendCounts(socket: dgram.Socket, agent: AgentProcess, metric: string, count: number): Promise<void> {
  const before = (await agent.status()).components.dogstatsd.metrics;
  const packet = Array.from({ length: 10 }, () => `${metric}:1|c`).join('\n');
  for (let i = 0; i < count / 10; i++) await new Promise<void>((resolve) => socket.send(packet, agent.dogstatsdPort, '127.0.0.1', () => resolve()));
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics >= before + count, 5000, `${count} counts at the agent`);
}

test(
  'hostname changed between SIGTERM and start inside one bucket: the counts before the stop are counted once (under the old host), not again under the new one',
  { timeout: 120_000 },
  async (t) => {
    const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-open-buckets-host-');
    const config = join(dir, 'datadog.yaml');
    const runPath = join(dir, 'run');
    const socket = dgram.createSocket('udp4');
    t.after(() => socket.close());
    for (let attempt = 1; ; attempt++) {
      const metric = `hostchange.hits.${attempt}`;
      await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'host-a' });
      const first = await startAgent({ config, runPath, flushInterval: 1 });
      t.after(() => stopAgent(first, 'SIGKILL'));
      while (Date.now() % 10_000 > 500) await sleep(50);
      const bucket = bucketOf(Date.now());
      await sendCounts(socket, first, metric, 300);
      assert.equal((await stopAgent(first, 'SIGTERM')).code, 0, first.output());
      assert.ok(existsSync(join(runPath, 'open-buckets.json')));
      await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'host-b' });
      const second = await startAgent({ config, runPath, flushInterval: 1 });
      t.after(() => stopAgent(second, 'SIGKILL'));
      await sendCounts(socket, second, metric, 500);
      const sameBucket = bucketOf(Date.now()) === bucket;
      await waitFor(() => intake.sum(metric) >= 800, 20_000, "both runs' counts at the intake").catch(() => undefined);
      assert.equal((await stopAgent(second, 'SIGTERM')).code, 0, second.output());
      const byHost = new Map<string, number>();
      for (const [id, value] of intake.points) {
        const [name, host] = id.split('|');
        if (name === metric) byHost.set(host!, (byHost.get(host!) ?? 0) + value);
      }
      assert.deepEqual(Object.fromEntries(byHost), { 'host-a': 300, 'host-b': 500 }, 'every count once');
      if (sameBucket) {
        assert.match(
          second.output(),
          /could not continue the buckets the previous run left open \(it was written for host .{0,2}host-a.{0,2}, this agent is .{0,2}host-b/,
        );
        return;
      }
      assert.ok(attempt < 3, 'three restarts in a row crossed a bucket boundary: the machine is too slow for this test');
    }
  },
);

test(
  'a damaged or edited open-buckets.json: its valid entries are continued, the rest skipped and logged, and the live counts of that bucket are all delivered',
  { timeout: 60_000 },
  async (t) => {
    const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-open-buckets-bad-');
    const config = join(dir, 'datadog.yaml');
    const runPath = join(dir, 'run');
    await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'bad-file-host' });
    await mkdir(runPath, { recursive: true, mode: 0o700 });
    const socket = dgram.createSocket('udp4');
    t.after(() => socket.close());
    while (Date.now() % 10_000 > 2000) await sleep(50);
    const start = bucketOf(Date.now());
    const ctx = (name: string, agg: unknown, tags: unknown = []) => ({ key: `c|${name}|`, name, tags, agg });
    await writeFile(
      join(runPath, 'open-buckets.json'),
      JSON.stringify({
        version: 1,
        savedAt: Date.now(),
        buckets: [
          {
            start,
            contexts: [
              ctx('bad.good', { kind: 'count', value: 3 }),
              ctx('bad.str', { kind: 'count', value: '12' }),
              ctx('bad.nulltags', { kind: 'count', value: 1 }, null),
            ],
          },
          { start: start + 10_000_000, contexts: [ctx('bad.future', { kind: 'count', value: 1 })] },
          { start: 'x', contexts: [] },
        ],
      }),
      { mode: 0o600 },
    );
    const agent = await startAgent({ config, runPath, flushInterval: 1 });
    t.after(() => stopAgent(agent, 'SIGKILL'));
    assert.ok(!existsSync(join(runPath, 'open-buckets.json')), 'consumed');
    await sendCounts(socket, agent, 'bad.str', 50);
    await sendCounts(socket, agent, 'bad.nulltags', 50);
    await waitFor(
      () => intake.sum('bad.str') === 50 && intake.sum('bad.nulltags') === 50 && intake.sum('bad.good') === 3,
      20_000,
      'the bucket at the intake',
    ).catch(() =>
      assert.fail(`stored bad.str ${intake.sum('bad.str')}, bad.nulltags ${intake.sum('bad.nulltags')}, bad.good ${intake.sum('bad.good')}\n${agent.output()}`),
    );
    assert.equal(intake.sum('bad.future'), 0);
    assert.match(agent.output(), /3 entries of the open-buckets file were not valid/);
    assert.doesNotMatch(agent.output(), /could not queue/);
    assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  },
);

test('a start that fails (DogStatsD port in use) leaves open-buckets.json for the next start', { timeout: 60_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-open-buckets-fail-');
  const config = join(dir, 'datadog.yaml');
  const runPath = join(dir, 'run');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'fail-host' });
  const first = await startAgent({ config, runPath, flushInterval: 1 });
  t.after(() => stopAgent(first, 'SIGKILL'));
  assert.equal((await stopAgent(first, 'SIGTERM')).code, 0, first.output());
  const file = join(runPath, 'open-buckets.json');
  assert.ok(existsSync(file));
  const busy = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => busy.bind(0, '127.0.0.1', () => resolve()));
  t.after(() => busy.close());
  const [node, ...args] = agentCommand;
  const failed = spawnSync(
    node!,
    [...args, 'run', '--config', config, '--run-path', runPath, '--flush-interval', '1', '--dogstatsd-port', String(busy.address().port)],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.notEqual(failed.status, 0);
  assert.match(failed.stderr + failed.stdout, /already in use/);
  assert.ok(existsSync(file), 'the failed start did not consume the open buckets');
  const second = await startAgent({ config, runPath, flushInterval: 1 });
  t.after(() => stopAgent(second, 'SIGKILL'));
  assert.ok(!existsSync(file), 'the next start did');
  assert.equal((await stopAgent(second, 'SIGTERM')).code, 0, second.output());
});
