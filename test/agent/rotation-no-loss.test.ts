/**
 * Rotation with no loss, real processes: an agent ships every second; its key is revoked at
 * the intake; 20 s later its config file gets the new key (`rekey config set-api-key` when
 * that command exists, else an atomic rewrite as editors do). Every point of the whole
 * period must be stored exactly once, and the agent must never restart.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/keys/key-format.js';
import { runRekey } from '../support/processes.js';
import { removeDir, startAgent, stopAgent, tempDir, writeYamlConfig } from './support/agent-process.js';
import { RecordingIntake, waitFor } from './support/recording-intake.js';

const REVOKED_FOR_MS = 20_000;

test('key revoked, then changed in the file 20 s later: every point stored exactly once', { timeout: 120_000 }, async (t) => {
  const oldKey = generateKey('api');
  const newKey = generateKey('api');
  const dir = await tempDir('rekey-agent-rotation-');
  const intake = await RecordingIntake.start([oldKey, newKey]);
  t.after(async () => {
    await intake.close();
    await removeDir(dir);
  });
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: oldKey, url: intake.url, hostname: 'rotating-host' });
  // The real default backoff (1 s … 64 s): only the file change may bring the delivery back quickly.
  const agent = await startAgent({
    config,
    runPath: join(dir, 'run'),
    flushInterval: 1,
    env: { REKEY_AGENT_BACKOFF_BASE_MS: '', REKEY_AGENT_BACKOFF_MAX_MS: '' },
  });
  t.after(() => stopAgent(agent, 'SIGKILL'));

  const socket = dgram.createSocket('udp4');
  let sent = 0;
  const send = () =>
    new Promise<void>((resolve) => {
      socket.send('rotation.ticks:1|c|#phase:any\nrotation.second:1|g', agent.dogstatsdPort, '127.0.0.1', () => resolve());
      sent++;
    });
  let sending = true;
  const sender = (async () => {
    while (sending) {
      await send();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  t.after(async () => {
    sending = false;
    await sender;
    socket.close();
  });

  await new Promise((resolve) => setTimeout(resolve, 3000));
  intake.revoke(oldKey);
  const revokedAt = Date.now();
  await waitFor(async () => (await agent.status()).apiKey.state === 'rejected', 15_000, 'the agent to see the 403');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, REVOKED_FOR_MS - (Date.now() - revokedAt))));
  const during = await agent.status();
  assert.equal(during.apiKey.state, 'rejected');
  assert.ok(during.queue.depth > 0, 'payloads are kept on disk while the key is refused');

  // Change the key in the file.
  const help = await runRekey(['config', 'set-api-key', '--help']);
  if (help.code === 0 && help.stdout.includes('--key-stdin')) {
    const result = await runRekey(['config', 'set-api-key', '--file', config, '--key-stdin'], { input: `${newKey}\n` });
    assert.equal(result.code, 0, result.stderr);
  } else {
    await writeYamlConfig(config, { apiKey: newKey, url: intake.url, hostname: 'rotating-host' });
  }
  const changedAt = Date.now();
  await waitFor(async () => (await agent.status()).apiKey.last4 === newKey.slice(-4), 10_000, 'the agent to pick up the new key');
  await waitFor(async () => (await agent.status()).queue.depth <= 2, 20_000, 'the backlog to be delivered');
  const catchUpMs = Date.now() - changedAt;

  await new Promise((resolve) => setTimeout(resolve, 3000));
  sending = false;
  await sender;
  // SIGTERM queues the still-open bucket and delivers it before exiting.
  const exit = await stopAgent(agent, 'SIGTERM');
  assert.equal(exit.code, 0, agent.output());

  assert.equal(intake.sum('rotation.ticks'), sent, `stored ${intake.sum('rotation.ticks')} of ${sent} increments`);
  assert.equal(intake.duplicatePoints, 0);
  assert.deepEqual(intake.payloadsAcceptedTwice(), []);
  // Points from the 403 period are there: one gauge per 10 s bucket, no gap.
  const buckets = [...intake.series('rotation.second').keys()].sort((a, b) => a - b);
  for (let i = 1; i < buckets.length; i++) assert.equal(buckets[i]! - buckets[i - 1]!, 10, `gap after ${buckets[i - 1]}`);
  assert.ok(buckets.length >= 3);
  // Every accepted payload after the change used the new key; the agent kept its pid.
  const refused = intake.requests.filter((r) => r.status === 403);
  assert.ok(refused.length > 0 && refused.every((r) => r.keyLast4 === oldKey.slice(-4)));
  assert.ok(intake.requests.some((r) => r.status === 202 && r.keyLast4 === newKey.slice(-4)));
  assert.ok(!agent.output().includes(oldKey) && !agent.output().includes(newKey), 'no key in the agent log');
  assert.ok(catchUpMs < 15_000, `caught up ${catchUpMs} ms after the change`);
});
