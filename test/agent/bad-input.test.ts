/**
 * Bad input against the real agent: thousands of fuzzed DogStatsD packets never crash it
 * (it still answers its status and still counts good lines), and an unreadable or invalid
 * config file ends `run` with one line naming the file (and line) and exit code 2.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateKey } from '../../src/keys/key-format.js';
import { agentCommand, run } from '../support/processes.js';
import { DOGSTATSD_GRAMMAR_PIECES } from '../support/dogstatsd-pieces.js';
import { removeDir, startAgent, stopAgent, tempDir, writeYamlConfig } from './support/agent-process.js';
import { agentTestbed } from './support/testbed.js';
import { waitFor } from './support/recording-intake.js';

test('3,000 fuzzed DogStatsD packets to a real agent: no crash, good lines still counted', { timeout: 90_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-fuzz-');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url });
  const agent = await startAgent({ config, runPath: join(dir, 'run'), flushInterval: 1 });
  t.after(() => stopAgent(agent, 'SIGKILL'));

  // The grammar's pieces and two bytes no metric name holds (NUL, and ÿ: invalid alone in UTF-8).
  const piece = fc.constantFrom(...DOGSTATSD_GRAMMAR_PIECES, '\u0000', '\u00ff');
  const packets = [
    ...fc.sample(fc.uint8Array({ maxLength: 1400 }), 1000).map((bytes) => Buffer.from(bytes)),
    ...fc.sample(fc.string({ unit: 'binary', maxLength: 400 }), 1000).map((s) => Buffer.from(s)),
    ...fc.sample(fc.array(piece, { maxLength: 60 }), 1000).map((pieces) => Buffer.from(pieces.join(''))),
  ];
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  for (let i = 0; i < packets.length; i++) {
    await new Promise<void>((resolve) => socket.send(packets[i]!, agent.dogstatsdPort, '127.0.0.1', () => resolve()));
    if (i % 200 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // One good packet after the noise, with a malformed line in the middle.
  await new Promise<void>((resolve) => socket.send('fuzz.good:5|c\nbroken line\nfuzz.good:2|c', agent.dogstatsdPort, '127.0.0.1', () => resolve()));
  await waitFor(async () => (await agent.status()).components.dogstatsd.received >= packets.length + 1, 20_000, 'every packet to be received');
  const status = await agent.status();
  assert.ok(status.components.dogstatsd.errored > 1000, `malformed ${status.components.dogstatsd.errored}`);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  await waitFor(() => intake.sum('fuzz.good') === 7, 25_000, 'the good counter at the intake');
  const exit = await stopAgent(agent, 'SIGTERM');
  assert.equal(exit.code, 0, agent.output());
});

test('an invalid config: one line naming the file and line, exit 2', async (t) => {
  const dir = await tempDir('rekey-agent-badconfig-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'datadog.yaml');
  await writeFile(file, 'api_key: 0123456789abcdef0123456789abcdef\nhostname: h\ndogstatsd_port: not-a-port\n');
  const result = await run([...agentCommand, 'run', '--config', file, '--run-path', join(dir, 'run')], { timeoutMs: 30_000 });
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*line 3`));
  assert.ok(!result.stderr.includes('0123456789abcdef0123456789abcdef'), 'no key in the message');
});

test('an unreadable config (missing, or a directory): one line naming the file, exit 2', async (t) => {
  const dir = await tempDir('rekey-agent-badconfig-');
  t.after(() => removeDir(dir));
  const missing = join(dir, 'missing.yaml');
  const directory = join(dir, 'a-directory.yaml');
  await mkdir(directory);
  for (const file of [missing, directory]) {
    const result = await run([...agentCommand, 'run', '--config', file, '--run-path', join(dir, 'run')], { timeoutMs: 30_000 });
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.ok(lines[0]!.includes(file), lines[0]);
  }
});

test('status without a running agent: exit 1 and a message naming the run path', async (t) => {
  const dir = await tempDir('rekey-agent-status-');
  t.after(() => removeDir(dir));
  const result = await run([...agentCommand, 'status', '--run-path', dir], { timeoutMs: 30_000 });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /No running rekey-agent answers for the run path/);
  assert.ok(result.stderr.includes(dir));
});

test('a second agent on the same run path is refused', { timeout: 60_000 }, async (t) => {
  const { key, dir, intake } = await agentTestbed(t, 'rekey-agent-twice-');
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url });
  const agent = await startAgent({ config, runPath: join(dir, 'run') });
  t.after(() => stopAgent(agent, 'SIGKILL'));
  const second = await run([...agentCommand, 'run', '--config', config, '--run-path', join(dir, 'run'), '--dogstatsd-port', '0'], { timeoutMs: 30_000 });
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`already uses the run path`));
  // The human status shows the key's last 4 only.
  const human = await run([...agentCommand, 'status', '--run-path', join(dir, 'run')]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`\\.\\.\\.${key.slice(-4)}`));
  assert.ok(!human.stdout.includes(key));
  const json = await run([...agentCommand, 'status', '--run-path', join(dir, 'run'), '--json']);
  assert.equal(JSON.parse(json.stdout).pid, agent.child.pid);
});

test('a DogStatsD port in use, or a run path that cannot be created: one line, no stack', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir('rekey-agent-ports-');
  const busy = dgram.createSocket('udp4');
  t.after(async () => {
    busy.close();
    await removeDir(dir);
  });
  const port = await new Promise<number>((resolve) => busy.bind(0, '127.0.0.1', () => resolve(busy.address().port)));
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: generateKey('api'), url: 'http://127.0.0.1:9' });
  const inUse = await run([...agentCommand, 'run', '--config', config, '--run-path', join(dir, 'run'), '--dogstatsd-port', String(port)], {
    timeoutMs: 30_000,
  });
  assert.equal(inUse.code, 2, inUse.stderr);
  assert.equal(inUse.stderr.trim().split('\n').length, 1, inUse.stderr);
  assert.match(inUse.stderr, new RegExp(`port ${port} is already in use.*${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  await writeFile(join(dir, 'not-a-dir'), 'x');
  const badRunPath = await run([...agentCommand, 'run', '--config', config, '--run-path', join(dir, 'not-a-dir', 'run'), '--dogstatsd-port', '0'], {
    timeoutMs: 30_000,
  });
  assert.equal(badRunPath.code, 1, badRunPath.stderr);
  assert.equal(badRunPath.stderr.trim().split('\n').length, 1, badRunPath.stderr);
  assert.match(badRunPath.stderr, /Cannot use the run path .*not-a-dir\/run/);
});
