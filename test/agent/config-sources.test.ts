/**
 * The agent reads a v5 `datadog.conf`, a v6/7 `datadog.yaml` with `additional_endpoints`, or
 * only `DD_*` variables, and ships to every endpoint with its own key.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/keys/key-format.js';
import { removeDir, startAgent, stopAgent, tempDir, type AgentProcess } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { RecordingIntake, waitFor } from './support/recording-intake.js';

async function sendCounts(agent: AgentProcess, metric: string, n: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => socket.send(`${metric}:1|c|#i:${i % 3}`, agent.dogstatsdPort, '127.0.0.1', () => resolve()));
  socket.close();
}

test('v6 datadog.yaml with additional_endpoints: both intakes get every point, each with its key', { timeout: 60_000 }, async (t) => {
  const [mainKey, secondKey] = [generateKey('api'), generateKey('api')];
  const dir = await tempDir('rekey-agent-endpoints-');
  const main = await RecordingIntake.start([mainKey]);
  const second = await RecordingIntake.start([secondKey]);
  t.after(async () => {
    await main.close();
    await second.close();
    await removeDir(dir);
  });
  const config = join(dir, 'datadog.yaml');
  await writeFile(
    config,
    [
      `api_key: ${mainKey}`,
      `dd_url: ${main.url}`,
      'hostname: yaml-host',
      'tags:',
      '  - team:agents',
      'additional_endpoints:',
      `  "${second.url}":`,
      `    - ${secondKey}`,
      '',
    ].join('\n'),
  );
  const agent = await startAgent({ config, runPath: join(dir, 'run') });
  await sendCounts(agent, 'multi.count', 300);
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics >= 300, 10_000, 'the packets');
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  assert.equal(main.sum('multi.count'), 300);
  assert.equal(second.sum('multi.count'), 300);
  assert.equal(main.sum('multi.count', 'team:agents'), 300, 'config tags are added');
  assert.ok(main.requests.every((r) => r.keyLast4 === mainKey.slice(-4)));
  assert.ok(second.requests.every((r) => r.keyLast4 === secondKey.slice(-4)));
});

test('v5 datadog.conf', { timeout: 60_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-v5-');
  const config = join(dir, 'datadog.conf');
  await writeFile(config, `[Main]\ndd_url: ${intake.url}\napi_key: ${key}\nhostname: v5-host\ntags: env:legacy, role:db\n`);
  const agent = await startAgent({ config, runPath: join(dir, 'run') });
  await sendCounts(agent, 'v5.count', 30);
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics >= 30, 10_000, 'the packets');
  assert.equal((await agent.status()).config.format, 'v5');
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  assert.equal(intake.sum('v5.count', 'role:db'), 30);
  assert.ok([...intake.points.keys()].every((id) => id.split('|')[1] === 'v5-host'));
});

test('only DD_* environment variables (no config file)', { timeout: 60_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-env-');
  const agent = await startAgent({
    config: null,
    runPath: join(dir, 'run'),
    env: { DD_API_KEY: key, DD_DD_URL: intake.url, DD_HOSTNAME: 'env-host', DD_TAGS: 'env:envonly' },
  });
  await sendCounts(agent, 'env.count', 30);
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics >= 30, 10_000, 'the packets');
  const status = await agent.status();
  assert.equal(status.apiKey.source, 'env');
  assert.equal(status.hostname, 'env-host');
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  assert.equal(intake.sum('env.count', 'env:envonly'), 30);
});
