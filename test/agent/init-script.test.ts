/**
 * `rekey-agent install-service` into a temporary prefix, then the installed SysV init
 * script really starts, reloads, restarts and stops a real agent through its pid file.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/keys/key-format.js';
import { fetchAgentStatus } from '../../src/agent/agent-status-client.js';
import { agentCommand, run } from '../support/processes.js';
import { removeDir, tempDir, writeYamlConfig } from './support/agent-process.js';
import { RecordingIntake, waitFor } from './support/recording-intake.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('install-service --dry-run writes nothing and shows both files', async (t) => {
  const prefix = await tempDir('rekey-agent-prefix-');
  t.after(() => removeDir(prefix));
  const result = await run([...agentCommand, 'install-service', '--prefix', prefix, '--manager', 'all', '--dry-run']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /would write .*etc\/systemd\/system\/rekey-agent\.service/);
  assert.match(result.stdout, /would write .*etc\/init\.d\/rekey-agent/);
  assert.equal(existsSync(join(prefix, 'etc')), false);
});

test('the installed init script starts, reloads, restarts and stops a real agent', { timeout: 120_000 }, async (t) => {
  const key = generateKey('api');
  const prefix = await tempDir('rekey-agent-prefix-');
  const intake = await RecordingIntake.start([key]);
  const runPath = join(prefix, 'var/lib/rekey-agent');
  const script = join(prefix, 'etc/init.d/rekey-agent');
  t.after(async () => {
    await run(['sh', script, 'stop'], { timeoutMs: 40_000 }).catch(() => undefined);
    await intake.close();
    await removeDir(prefix);
  });
  const config = join(prefix, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'initd-host' });

  const installed = await run([...agentCommand, 'install-service', '--prefix', prefix, '--manager', 'all', '--config', config, '--json']);
  assert.equal(installed.code, 0, installed.stderr);
  const files = (JSON.parse(installed.stdout) as { files: Array<{ path: string }> }).files.map((f) => f.path);
  assert.deepEqual(files.sort(), [join(prefix, 'etc/init.d/rekey-agent'), join(prefix, 'etc/systemd/system/rekey-agent.service')]);
  assert.equal((await stat(script)).mode & 0o777, 0o755);
  const unit = await readFile(join(prefix, 'etc/systemd/system/rekey-agent.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .* run --config ${config} --run-path ${runPath}$`, 'm'));
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.doesNotMatch(unit + (await readFile(script, 'utf8')), /@[A-Z_]+@/);
  // No fixed DogStatsD port in tests: the defaults file the script reads.
  await mkdir(join(prefix, 'etc/default'), { recursive: true });
  await writeFile(join(prefix, 'etc/default/rekey-agent'), 'EXTRA_ARGS="--dogstatsd-port 0 --flush-interval 1"\nSTOP_TIMEOUT=20\n');

  assert.equal((await run(['sh', script, 'status'])).code, 3, 'not running yet');
  const started = await run(['sh', script, 'start'], { timeoutMs: 40_000 });
  assert.equal(started.code, 0, started.stdout + started.stderr);
  const pid = Number((await readFile(join(runPath, 'rekey-agent.pid'), 'utf8')).trim());
  assert.ok(alive(pid));
  // The pid file is written first (it is the lock); the status endpoint follows shortly.
  await waitFor(async () => (await fetchAgentStatus(runPath).catch(() => null))?.pid === pid, 15_000, 'the agent status');
  const status = await run(['sh', script, 'status']);
  assert.equal(status.code, 0);
  assert.match(status.stdout, new RegExp(`running \\(pid ${pid}\\)`));
  assert.match((await run(['sh', script, 'start'])).stdout, /already running/);

  // reload = SIGHUP: the agent re-reads its config without a restart.
  const reloaded = await run(['sh', script, 'reload']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const log = join(prefix, 'var/log/rekey-agent.log');
  await waitFor(async () => (await readFile(log, 'utf8')).includes('"reason":"SIGHUP"'), 10_000, 'the SIGHUP reload in the log');
  assert.equal((await fetchAgentStatus(runPath)).pid, pid);

  const restarted = await run(['sh', script, 'restart'], { timeoutMs: 60_000 });
  assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
  const newPid = Number((await readFile(join(runPath, 'rekey-agent.pid'), 'utf8')).trim());
  assert.notEqual(newPid, pid);
  assert.equal(alive(pid), false, 'the old agent is gone');
  assert.ok(alive(newPid));
  await waitFor(async () => (await fetchAgentStatus(runPath).catch(() => null))?.pid === newPid, 10_000, 'the new agent status');

  const stopped = await run(['sh', script, 'stop'], { timeoutMs: 40_000 });
  assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
  assert.equal(alive(newPid), false);
  assert.equal(existsSync(join(runPath, 'rekey-agent.pid')), false, 'the agent removed its pid file');
  assert.equal((await run(['sh', script, 'status'])).code, 3);
  // The agent shipped while it ran, with the configured key, and exited cleanly (SIGTERM → 0).
  assert.ok(intake.requests.some((r) => r.status === 202 && r.keyLast4 === key.slice(-4)));
  assert.doesNotMatch(await readFile(log, 'utf8'), new RegExp(key));
});
