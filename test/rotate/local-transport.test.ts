/**
 * The `local` transport on real files and a real process: the key is written, the backup kept
 * once per rotation, SIGHUP reaches the agent through its pid file, rollback restores the bytes.
 * Also the POSIX sh/awk program of the ssh transport, run by the real /bin/sh on real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../../src/keys/key-format.js';
import { LocalTransport, backupPathFor } from '../../src/rotate/transports/local-transport.js';
import { REMOTE_SET_KEY_SCRIPT } from '../../src/rotate/transports/remote-set-key-script.js';
import { runProcess } from '../../src/rotate/transports/run-process.js';

const V5 = (key: string) => `[Main]\r\ndd_url: http://127.0.0.1:1\r\n# the key\r\napi_key: ${key}\r\nhostname: web-1\r\n\r\n[trace.config]\r\nenv: prod\r\n`;
const V6 = (key: string) => `# Agent 7\nsite: datadoghq.com\napi_key: ${key}\nhostname: web-1\ntags:\n  - role:web\n`;

/** A real process that appends "HUP" to a file on each SIGHUP, with a pid file. */
async function hupRecorder(dir: string) {
  const log = join(dir, 'hups.log');
  const child = spawn(
    process.execPath,
    ['-e', `process.on('SIGHUP', () => require('fs').appendFileSync(${JSON.stringify(log)}, 'HUP\\n')); setInterval(() => {}, 1000); console.log('ready')`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const pidFile = join(dir, 'agent.pid');
  writeFileSync(pidFile, `${child.pid}\n`);
  return { child, pidFile, hups: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0) };
}

for (const [format, render, file] of [
  ['v5 datadog.conf', V5, 'datadog.conf'],
  ['v6 datadog.yaml', V6, 'datadog.yaml'],
] as const) {
  test(`local transport, ${format}: deploy keeps one backup per rotation, SIGHUPs the agent, rollback restores the bytes`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-local-'));
    const agent = await hupRecorder(dir);
    t.after(() => agent.child.kill('SIGKILL'));
    const config = join(dir, file);
    const oldKey = generateKey('api');
    const original = render(oldKey);
    writeFileSync(config, original);
    chmodSync(config, 0o640);
    const transport = new LocalTransport({ transport: 'local', name: 'web-1', line: 1, config, restart: { kind: 'sighup', pidFile: agent.pidFile } });

    const newKey = generateKey('api');
    const { backup } = await transport.deploy(newKey, 'r1');
    assert.equal(backup, backupPathFor(config, 'r1'));
    assert.equal(readFileSync(config, 'utf8'), render(newKey), 'only the api_key line changed');
    assert.equal(readFileSync(backup, 'utf8'), original);
    assert.equal(statSync(config).mode & 0o777, 0o640, 'permissions kept');
    assert.equal(statSync(backup).mode & 0o777, 0o640, 'the backup is as private as the config');
    assert.equal(await transport.configuredLast4(), newKey.slice(-4));

    // A resumed deploy of the same rotation keeps the first backup (it must not hold the new key).
    await transport.deploy(newKey, 'r1');
    assert.equal(readFileSync(backup, 'utf8'), original);

    await transport.restart();
    for (let i = 0; i < 50 && agent.hups() < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(agent.hups(), 1);

    await transport.rollback(backup);
    assert.equal(readFileSync(config, 'utf8'), original);
  });
}

test('local transport refuses a malformed key without touching the file; a dead agent is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-local-'));
  const config = join(dir, 'datadog.yaml');
  writeFileSync(config, V6(generateKey('api')));
  const before = readFileSync(config);
  const pidFile = join(dir, 'gone.pid');
  writeFileSync(pidFile, '999999\n');
  const transport = new LocalTransport({ transport: 'local', name: 'h', line: 1, config, restart: { kind: 'sighup', pidFile } });
  await assert.rejects(transport.deploy('not-a-key', 'r1'));
  assert.deepEqual(readFileSync(config), before);
  await assert.rejects(transport.restart(), /the agent is not running \(pid 999999/);
  await assert.rejects(transport.rollback(join(dir, 'missing.bak')), /no backup/);
});

async function script(args: string[], input = '') {
  return runProcess(['sh', '-c', REMOTE_SET_KEY_SCRIPT, 'rekey-rotate', ...args], { input, timeoutMs: 10_000 });
}

test('the remote sh/awk program rewrites api_key in v5 and v6 files, keeps CRLF, mode and the first backup', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-remote-'));
  for (const [render, name] of [
    [V5, 'datadog.conf'],
    [V6, 'datadog.yaml'],
  ] as const) {
    const file = join(dir, name);
    const oldKey = generateKey('api');
    writeFileSync(file, render(oldKey));
    chmodSync(file, 0o600);
    const key = generateKey('api');
    const backup = `${file}.bak`;
    const result = await script([file, backup, 'deploy'], `${key}\n`);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(file, 'utf8'), render(key));
    assert.equal(readFileSync(backup, 'utf8'), render(oldKey));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((await script([file, '-', 'last4'])).stdout.trim(), key.slice(-4));
    // Again with another key: the backup still holds the pre-rotation config.
    assert.equal((await script([file, backup, 'deploy'], `${generateKey('api')}\n`)).code, 0);
    assert.equal(readFileSync(backup, 'utf8'), render(oldKey));
    assert.equal((await script([file, backup, 'rollback'])).code, 0);
    assert.equal(readFileSync(file, 'utf8'), render(oldKey));
  }
});

test('the remote program adds a missing api_key in the right place and rejects bad input', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-remote-'));
  const key = generateKey('api');
  const conf = join(dir, 'datadog.conf');
  writeFileSync(conf, '[Main]\ndd_url: x\n\n[other]\napi_key: not-this-one\n');
  assert.equal((await script([conf, `${conf}.bak`, 'deploy'], key)).code, 0, 'a key without a newline is read too');
  assert.equal(readFileSync(conf, 'utf8'), `[Main]\napi_key: ${key}\ndd_url: x\n\n[other]\napi_key: not-this-one\n`);
  const yaml = join(dir, 'datadog.yaml');
  writeFileSync(yaml, 'logs:\n  api_key: nested-not-top-level\n');
  assert.equal((await script([yaml, `${yaml}.bak`, 'deploy'], `${key}\n`)).code, 0);
  assert.equal(readFileSync(yaml, 'utf8'), `logs:\n  api_key: nested-not-top-level\napi_key: ${key}\n`);
  for (const bad of ['', 'ZZZZ\n', `${key}0\n`, `"${key}"\n`]) {
    const before = readFileSync(yaml, 'utf8');
    const result = await script([yaml, `${yaml}.bak2`, 'deploy'], bad);
    assert.equal(result.code, 3, `input ${JSON.stringify(bad)} must be refused`);
    assert.equal(readFileSync(yaml, 'utf8'), before);
  }
  assert.equal((await script([join(dir, 'nope'), 'x', 'deploy'], key)).code, 3);
});
