/**
 * UDP loss is never invisible: with a small receive buffer (`dogstatsd_so_rcvbuf`) and the
 * agent paused (SIGSTOP) while packets arrive, the kernel drops what does not fit, and
 * `rekey-agent status` shows exactly those drops: received + dropped by the kernel = sent.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { test } from 'node:test';
import { agentCommand, run } from '../support/processes.js';
import { startAgent, stopAgent, writeYamlConfig } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { waitFor } from './support/recording-intake.js';

test('dogstatsd_so_rcvbuf sets the buffer; the kernel drops of a paused agent show in its status', { timeout: 60_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-drops-');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'drops-host', extra: 'dogstatsd_so_rcvbuf: 16384' });
  const runPath = join(dir, 'run');
  const agent = await startAgent({ config, runPath, flushInterval: 1 });
  t.after(() => {
    agent.child.kill('SIGCONT');
    return stopAgent(agent, 'SIGKILL');
  });
  const before = await agent.status();
  assert.equal(before.components.dogstatsd.kernelDrops, 0);
  // Linux doubles the value asked for (bookkeeping overhead) and reports the doubled size.
  assert.equal(before.components.dogstatsd.recvBufferBytes, 32768);

  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  agent.child.kill('SIGSTOP');
  const sent = 2000;
  const packet = 'drops.ticks:1|c|#' + 'x'.repeat(100);
  for (let i = 0; i < sent; i++) await new Promise<void>((resolve) => socket.send(packet, agent.dogstatsdPort, '127.0.0.1', () => resolve()));
  agent.child.kill('SIGCONT');

  await waitFor(
    async () => {
      const s = await agent.status();
      return s.components.dogstatsd.received + (s.components.dogstatsd.kernelDrops ?? 0) === sent;
    },
    10_000,
    'received + dropped to account for every packet',
  );
  const after = await agent.status();
  assert.ok((after.components.dogstatsd.kernelDrops ?? 0) > sent / 2, `kernel drops ${after.components.dogstatsd.kernelDrops}`);

  const text = await run([...agentCommand, 'status', '--run-path', runPath], { timeoutMs: 30_000 });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`${after.components.dogstatsd.kernelDrops} dropped by the kernel \\(receive buffer 32768 bytes full\\)`));
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  assert.equal(intake.sum('drops.ticks'), after.components.dogstatsd.received, 'what was received is delivered');
});
