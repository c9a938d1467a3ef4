import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runRekey } from '../support/processes.js';

test("agent restart --dry-run prints the platform's command and runs nothing", async () => {
  const expected: Array<[string, string]> = [
    ['systemd', 'systemctl restart datadog-agent\n'],
    ['sysv', '/etc/init.d/datadog-agent restart\n'],
    ['launchd', 'launchctl stop com.datadoghq.agent\nlaunchctl start com.datadoghq.agent\n'],
  ];
  for (const [manager, output] of expected) {
    const result = await runRekey(['agent', 'restart', '--dry-run', '--manager', manager]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, output);
  }
  const custom = await runRekey(['agent', 'restart', '--dry-run', '--manager', 'systemd', '--service', 'datadog-agent-trace']);
  assert.equal(custom.stdout, 'systemctl restart datadog-agent-trace\n');
  const bad = await runRekey(['agent', 'restart', '--manager', 'upstart']);
  assert.equal(bad.code, 2);
});

test('agent restart --service rekey-agent --pid-file: a real process receives SIGHUP', async () => {
  const pidFile = join(mkdtempSync(join(tmpdir(), 'rekey-hup-')), 'rekey-agent.pid'); // the agent's own file name
  const child = spawn(
    process.execPath,
    ['-e', "process.on('SIGHUP', () => { console.log('reloaded'); process.exit(0); }); console.log('ready'); setTimeout(() => process.exit(3), 30000);"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  await once(child.stdout, 'data');
  writeFileSync(pidFile, `${child.pid}\n`);
  const dry = await runRekey(['agent', 'restart', '--service', 'rekey-agent', '--pid-file', pidFile, '--dry-run']);
  assert.equal(dry.stdout, `kill -HUP ${child.pid}   # rekey-agent from ${pidFile}\n`);
  const result = await runRekey(['agent', 'restart', '--service', 'rekey-agent', '--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`sent SIGHUP to rekey-agent \\(pid ${child.pid}\\)`));
  const [code] = await exited;
  // Without --pid-file, the pid file in rekey-agent's run path (REKEY_AGENT_RUN_PATH) is used.
  const defaultDry = await runRekey(['agent', 'restart', '--service', 'rekey-agent', '--dry-run'], {
    env: { ...process.env, REKEY_AGENT_RUN_PATH: dirname(pidFile) },
  });
  assert.equal(defaultDry.code, 0, defaultDry.stderr);
  assert.equal(defaultDry.stdout, `kill -HUP ${child.pid}   # rekey-agent from ${pidFile}\n`);
  assert.equal(code, 0);
  assert.match(output, /reloaded/);
  // The process is gone now: the pid file is stale and the command says so (exit 1).
  const stale = await runRekey(['agent', 'restart', '--pid-file', pidFile]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /stale pid file/);
});
