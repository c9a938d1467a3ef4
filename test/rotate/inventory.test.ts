import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { loadInventory, parseInventory } from '../../src/rotate/inventory.js';
import { isRekeyError } from '../../src/errors.js';
import { repoRoot, runRekey } from '../support/processes.js';

const GOOD = `
defaults:
  restart: systemd
  user: root
hosts:
  - name: web-1
    transport: local
    config: conf/datadog.yaml
    restart: sighup:run/agent.pid
  - name: web-2.example.com
    transport: ssh
    host: 192.0.2.10
    port: 2222
    identity_file: ~/.ssh/id_ed25519
    known_hosts: known_hosts
    strict_host_key_checking: accept-new
    config: /etc/dd-agent/datadog.conf
    restart: sysv:datadog-agent
  - name: db-1
    transport: command
    command: [ansible-playbook, -i, 'db-1,', rotate-datadog-key.yml]
    rollback: [ansible-playbook, rollback.yml]
    timeout: 5m
  - name: db-2
    transport: local
    config: /etc/datadog-agent/datadog.yaml
    restart: { command: [/usr/local/bin/restart-agent, --now] }
`;

function problems(text: string): string[] {
  try {
    parseInventory(text, '/srv/inv/inventory.yaml');
  } catch (error) {
    assert.ok(isRekeyError(error, 'INVENTORY_INVALID'), String(error));
    assert.equal(error.exitCode, 2);
    return error.message
      .split('\n')
      .slice(1)
      .map((line) => line.trim());
  }
  assert.fail('expected the inventory to be rejected');
}

test('a valid inventory with all three transports, defaults merged and paths resolved', () => {
  const inventory = parseInventory(GOOD, '/srv/inv/inventory.yaml');
  assert.equal(inventory.hosts.length, 4);
  const [local, ssh, command, custom] = inventory.hosts;
  assert.deepEqual(local, {
    transport: 'local',
    name: 'web-1',
    line: 6,
    config: '/srv/inv/conf/datadog.yaml',
    restart: { kind: 'sighup', pidFile: '/srv/inv/run/agent.pid' },
  });
  assert.equal(ssh?.transport, 'ssh');
  if (ssh?.transport === 'ssh') {
    assert.equal(ssh.port, 2222);
    assert.equal(ssh.user, 'root', 'user comes from defaults');
    assert.equal(ssh.identityFile, join(homedir(), '.ssh/id_ed25519'));
    assert.equal(ssh.knownHosts, '/srv/inv/known_hosts');
    assert.equal(ssh.strictHostKeyChecking, 'accept-new');
    assert.deepEqual(ssh.restart, { kind: 'sysv', name: 'datadog-agent' });
    assert.equal(ssh.setKeyWith, 'script');
  }
  assert.equal(command?.transport, 'command');
  if (command?.transport === 'command') {
    assert.deepEqual(command.command, ['ansible-playbook', '-i', 'db-1,', 'rotate-datadog-key.yml']);
    assert.deepEqual(command.rollback, ['ansible-playbook', 'rollback.yml']);
    assert.equal(command.timeoutMs, 300_000);
    assert.equal(command.cwd, '/srv/inv');
  }
  assert.deepEqual(custom?.transport === 'local' && custom.restart, { kind: 'command', argv: ['/usr/local/bin/restart-agent', '--now'] });
});

test('restart defaults: systemd → datadog-agent unit, sysv → datadog-agent script', () => {
  const inventory = parseInventory(
    'hosts:\n  - {name: a, transport: local, config: /x, restart: systemd}\n  - {name: b, transport: local, config: /y, restart: "sysv"}\n  - {name: c, transport: local, config: /z, restart: none}\n',
    '/i.yaml',
  );
  assert.deepEqual(
    inventory.hosts.map((h) => h.transport === 'local' && h.restart),
    [{ kind: 'systemd', unit: 'datadog-agent' }, { kind: 'sysv', name: 'datadog-agent' }, { kind: 'none' }],
  );
});

test('every problem is reported at once, each with its line number', () => {
  const found = problems(`hosts:
  - name: web-1
    transport: local
    restart: reboot
  - name: web-1
    transport: ssh
    host: h
    config: relative/path.yaml
    restart: none
    port: 70000
  - name: c
    transport: command
    command: "ansible-playbook site.yml"
  - transport: teleport
    name: d
  - name: e
    transport: local
    config: /x
    restart: none
    host: nope
`);
  // Exact expectations, checked one by one so a failure says which.
  const expect = [
    'line 4: host "web-1": restart "reboot" is not one of',
    'line 2: config is required (host at line 2)',
    'line 10: host "web-1": port must be a number 1-65535',
    'line 8: host "web-1": config must be the absolute path of the file on the remote host',
    'line 13: host "c": command must be a non-empty list of strings (argv, no shell)',
    'line 14: host "d": transport must be local, ssh or command (got "teleport")',
    'line 20: host "e": field "host" does not apply to transport local',
  ];
  for (const wanted of expect)
    assert.ok(
      found.some((line) => line.startsWith(wanted)),
      `missing "${wanted}" in:\n${found.join('\n')}`,
    );
  assert.equal(found.length, expect.length, found.join('\n'));
});

test('duplicate host names, unknown top-level fields, YAML syntax errors and empty lists', () => {
  assert.deepEqual(
    problems('hosts:\n  - {name: a, transport: local, config: /x, restart: none}\n  - {name: a, transport: local, config: /y, restart: none}\n'),
    ['line 3: host name "a" is listed twice (first at line 2)'],
  );
  assert.deepEqual(problems('host:\n  - name: a\n'), [
    'line 1: unknown top-level field "host" (expected hosts, defaults)',
    'line 1: missing `hosts:` (a list of hosts)',
  ]);
  assert.deepEqual(problems('hosts: []\n'), ['line 1: `hosts` is empty; list at least one host']);
  const syntax = problems('hosts:\n  - name: a\n   transport: [local\n');
  assert.ok(syntax.length >= 1 && /^line [23]:/.test(syntax[0]!), syntax.join('\n'));
  assert.deepEqual(problems('hosts:\n  - name: a\n    name: b\n    transport: local\n'), [
    problems('hosts:\n  - name: a\n    name: b\n    transport: local\n')[0]!,
  ]);
  assert.match(
    problems('hosts:\n  - name: "bad name!"\n    transport: local\n    config: /x\n    restart: none\n')[0]!,
    /^line 2: host name "bad name!" is not a hostname/,
  );
  assert.deepEqual(problems('- a\n- b\n'), ['line 1: the file must be a mapping with a `hosts:` list']);
});

test('`rekey rotate` exits 2 with the line-numbered problems for a bad inventory, before any network call', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-inv-'));
  const file = join(dir, 'inventory.yaml');
  writeFileSync(file, 'hosts:\n  - name: a\n    transport: local\n    restart: "sighup:"\n');
  assert.throws(() => loadInventory(file), /line 4: host "a": sighup needs the agent's pid file/);
  const result = await runRekey(['rotate', '--inventory', file, '--url', 'http://127.0.0.1:9'], {
    env: { ...process.env, DD_API_KEY: 'x', DD_APP_KEY: 'y' },
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /is not a valid inventory:\n {2}line 2: config is required/);
  assert.match(result.stderr, /line 4: host "a": sighup needs/);
});

test('examples/inventory.yaml is a valid inventory with all three transports', () => {
  const inventory = loadInventory(join(repoRoot, 'examples/inventory.yaml'));
  assert.deepEqual(
    inventory.hosts.map((h) => [h.name, h.transport]),
    [
      ['build-01', 'local'],
      ['build-02', 'local'],
      ['web-01.prod.example.com', 'ssh'],
      ['web-02.prod.example.com', 'ssh'],
      ['db-01.prod.example.com', 'command'],
    ],
  );
  const web2 = inventory.hosts[3]!;
  assert.ok(web2.transport === 'ssh' && web2.user === 'deploy' && web2.knownHosts === join(repoRoot, 'examples/known_hosts'));
});
