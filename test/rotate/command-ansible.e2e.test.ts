/**
 * The command transport running Debian's real `ansible-playbook` with the example playbook
 * (examples/ansible/rotate-datadog-key.yml, local connection): the key reaches Ansible only
 * through REKEY_NEW_API_KEY, the playbook writes it as `datadog_api_key` and reloads the agent,
 * and rotate verifies the host and revokes the old key. The rollback playbook restores the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runRekey } from '../support/processes.js';
import { CommandTransport } from '../../src/rotate/transports/command-transport.js';
import { api, startFleetAgent, startServer, stopFleetAgent, until, writeInventory } from './support/fleet.js';

function ensureAnsible(): void {
  if (existsSync('/usr/bin/ansible-playbook')) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], { stdio: 'ignore', env, timeout: 300_000 });
  spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', 'ansible'], { stdio: 'ignore', env, timeout: 900_000 });
  if (!existsSync('/usr/bin/ansible-playbook')) throw new Error('ansible-playbook is missing and could not be installed (apt-get install ansible as root)');
}

test('rotate with the command transport running the example Ansible playbook', { timeout: 300_000 }, async (t) => {
  ensureAnsible();
  const dir = mkdtempSync(join(tmpdir(), 'rekey-rotate-ansible-'));
  const server = await startServer(join(dir, 'data'));
  t.after(() => server.stop());
  const agent = await startFleetAgent(dir, 'ansible-host-1', server.url, server.apiKey.key);
  t.after(() => stopFleetAgent(agent, 'SIGKILL'));
  await until(async () => (await api(server, `/api/v2/api_keys/${server.apiKey.id}/hosts`)).body.data.length === 1, 60_000, 'the host on the old key');
  const original = readFileSync(agent.config, 'utf8');

  const playbook = (name: string) => [
    'ansible-playbook',
    '-c',
    'local',
    '-i',
    'localhost,',
    join(repoRoot, 'examples/ansible', name),
    '-e',
    'datadog_use_role=false',
    '-e',
    `datadog_config_file=${agent.config}`,
    '-e',
    `rekey_agent_pid_file=${agent.pidFile}`,
  ];
  const inventory = join(dir, 'inventory.yaml');
  writeInventory(inventory, [
    {
      name: agent.name,
      transport: 'command',
      command: playbook('rotate-datadog-key.yml'),
      rollback: playbook('rollback-datadog-key.yml'),
      config: agent.config,
      timeout: '3m',
    },
  ]);
  const env = { ...process.env, DD_API_KEY: server.apiKey.key, DD_APP_KEY: server.appKey, DD_SITE: server.url, ANSIBLE_NOCOLOR: '1' };
  const result = await runRekey(['rotate', '--inventory', inventory, '--json', '--verify-timeout', '60s'], { env, timeoutMs: 240_000 });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.hosts[0].state, 'verified');
  assert.equal(report.old_keys[0].revoked, true);
  const newKey = readFileSync(agent.config, 'utf8').match(/^api_key: (\w+)$/m)![1]!;
  assert.equal(newKey.slice(-4), report.new_key.last4);
  assert.equal(readFileSync(agent.config, 'utf8'), original.replace(server.apiKey.key, newKey), 'lineinfile changed only the api_key line');
  assert.ok(!result.stderr.includes(newKey) && !result.stdout.includes(newKey), 'no_log: the key is in no output');

  // The rollback playbook puts lineinfile's backup back.
  const transport = new CommandTransport({
    transport: 'command',
    name: agent.name,
    line: 1,
    command: playbook('rotate-datadog-key.yml'),
    rollback: playbook('rollback-datadog-key.yml'),
    cwd: dir,
    timeoutMs: 180_000,
    config: agent.config,
  });
  await transport.rollback();
  assert.equal(readFileSync(agent.config, 'utf8'), original);
  assert.equal(await transport.configuredLast4(), server.apiKey.key.slice(-4));
});
