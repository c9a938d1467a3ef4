import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePlan, detectServiceManager, executeRestart, planRestart, type HostProbe } from './agent-restart.js';
import { isRekeyError } from '../errors.js';

const probe = (platform: NodeJS.Platform, paths: string[] = []): HostProbe => ({ platform, exists: (p) => paths.includes(p) });

test('detection: systemd, SysV init script, launchd, Windows service, or nothing', () => {
  assert.equal(detectServiceManager(probe('linux', ['/run/systemd/system', '/etc/init.d/datadog-agent'])), 'systemd');
  assert.equal(detectServiceManager(probe('linux', ['/etc/init.d/datadog-agent'])), 'sysv');
  assert.equal(detectServiceManager(probe('linux')), null);
  assert.equal(detectServiceManager(probe('darwin')), 'launchd');
  assert.equal(detectServiceManager(probe('win32')), 'windows');
});

test("each platform's restart command", () => {
  const commands = (p: HostProbe, service?: string) => describePlan(planRestart({ service }, p));
  assert.deepEqual(commands(probe('linux', ['/run/systemd/system'])), ['systemctl restart datadog-agent']);
  assert.deepEqual(commands(probe('linux', ['/etc/init.d/datadog-agent'])), ['/etc/init.d/datadog-agent restart']);
  assert.deepEqual(commands(probe('darwin')), ['launchctl stop com.datadoghq.agent', 'launchctl start com.datadoghq.agent']);
  assert.deepEqual(commands(probe('win32')), ["powershell.exe -NoProfile -NonInteractive -Command 'Restart-Service -Name '\\''DatadogAgent'\\'' -Force'"]);
  assert.deepEqual(commands(probe('linux', ['/run/systemd/system']), 'rekey-agent'), ['systemctl kill --signal=HUP rekey-agent']);
  assert.throws(
    () => planRestart({}, probe('linux')),
    (e: unknown) => isRekeyError(e, 'SERVICE_MANAGER_UNKNOWN'),
  );
  assert.deepEqual(describePlan(planRestart({ manager: 'sysv' }, probe('linux'))), ['/etc/init.d/datadog-agent restart']);
});

test('execution runs each command in order and stops at the first failure', () => {
  const ran: string[][] = [];
  const plan = planRestart({}, probe('darwin'));
  executeRestart(plan, (command) => (ran.push(command), { status: 0, stderr: '' }));
  assert.deepEqual(ran, [
    ['launchctl', 'stop', 'com.datadoghq.agent'],
    ['launchctl', 'start', 'com.datadoghq.agent'],
  ]);
  ran.length = 0;
  assert.throws(
    () => executeRestart(plan, (command) => (ran.push(command), { status: 3, stderr: 'Could not find service\n' })),
    (e: unknown) => isRekeyError(e, 'AGENT_RESTART_FAILED') && /launchctl stop .*Could not find service/.test(e.message),
  );
  assert.equal(ran.length, 1);
});

test('rekey-agent: SIGHUP to the pid in its pid file', () => {
  const pidFile = join(mkdtempSync(join(tmpdir(), 'rekey-pid-')), 'rekey-agent.pid');
  writeFileSync(pidFile, '4242\n');
  const plan = planRestart({ service: 'rekey-agent', pidFile }, probe('linux'));
  assert.deepEqual(plan, { kind: 'signal', pid: 4242, signal: 'SIGHUP', pidFile });
  const sent: Array<[number, string]> = [];
  executeRestart(plan, undefined, (pid, signal) => sent.push([pid, signal]));
  assert.deepEqual(sent, [[4242, 'SIGHUP']]);
  writeFileSync(pidFile, 'garbage');
  assert.throws(() => planRestart({ pidFile }, probe('linux')), /does not hold a process id/);
});
