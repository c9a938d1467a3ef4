/**
 * The ssh transport against a real OpenSSH server on 127.0.0.1 (started by the test): a full
 * `rekey rotate` of a real rekey-agent through ssh, the key only on stdin; last4, rollback and
 * a host key mismatch refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRekey } from '../support/processes.js';
import { SshTransport } from '../../src/rotate/transports/ssh-transport.js';
import type { SshHost } from '../../src/rotate/inventory.js';
import { generateKey } from '../../src/keys/key-format.js';
import { api, startFleetAgent, startServer, stopFleetAgent, until, writeInventory } from './support/fleet.js';
import { startSshd } from './support/sshd.js';

test('rotate through ssh: a real sshd, a real agent, verified on the new key, old key revoked', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-rotate-ssh-'));
  const sshd = await startSshd(join(dir, 'sshd'));
  t.after(() => sshd.stop());
  const server = await startServer(join(dir, 'data'));
  t.after(() => server.stop());
  const agent = await startFleetAgent(dir, 'ssh-host-1', server.url, server.apiKey.key);
  t.after(() => stopFleetAgent(agent, 'SIGKILL'));
  await until(async () => (await api(server, `/api/v2/api_keys/${server.apiKey.id}/hosts`)).body.data.length === 1, 60_000, 'the host on the old key');
  const original = readFileSync(agent.config, 'utf8');

  const inventory = join(dir, 'inventory.yaml');
  writeInventory(inventory, [
    {
      name: agent.name,
      transport: 'ssh',
      host: '127.0.0.1',
      port: sshd.port,
      user: sshd.user,
      identity_file: sshd.identityFile,
      known_hosts: sshd.knownHosts,
      strict_host_key_checking: 'yes',
      config: agent.config,
      restart: `sighup:${agent.pidFile}`,
    },
  ]);
  const env = { ...process.env, DD_API_KEY: server.apiKey.key, DD_APP_KEY: server.appKey, DD_SITE: server.url };
  const result = await runRekey(['rotate', '--inventory', inventory, '--json', '--verify-timeout', '45s'], { env, timeoutMs: 180_000 });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\nsshd: ${sshd.log()}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.hosts[0].state, 'verified');
  assert.equal(report.hosts[0].verified_by, 'host-usage');
  assert.equal(report.old_keys[0].revoked, true);
  const newKey = readFileSync(agent.config, 'utf8').match(/^api_key: (\w+)$/m)![1]!;
  assert.equal(newKey.slice(-4), report.new_key.last4);
  assert.equal(readFileSync(agent.config, 'utf8'), original.replace(server.apiKey.key, newKey), 'only the api_key line changed');
  assert.equal(readFileSync(report.hosts[0].backup, 'utf8'), original, 'the remote kept a backup');
  assert.match(sshd.log(), /Accepted publickey for/);

  // The same transport reads last4 and rolls back over ssh.
  const host: SshHost = {
    transport: 'ssh',
    name: agent.name,
    line: 1,
    host: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHosts: sshd.knownHosts,
    strictHostKeyChecking: 'yes',
    config: agent.config,
    restart: { kind: 'none' },
    setKeyWith: 'script',
    sshOptions: [],
    timeoutMs: 30_000,
  };
  const transport = new SshTransport(host);
  assert.equal(await transport.configuredLast4(), newKey.slice(-4));
  for (const word of transport.sshArgv()) assert.ok(!word.includes(newKey));
  await transport.rollback(report.hosts[0].backup);
  assert.equal(readFileSync(agent.config, 'utf8'), original);

  // A host key that does not match known_hosts is refused; the file is not touched.
  const wrongKnownHosts = join(dir, 'wrong_known_hosts');
  writeFileSync(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`);
  const strict = new SshTransport({ ...host, knownHosts: wrongKnownHosts });
  await assert.rejects(strict.deploy(generateKey('api'), 'r-x'), /setting the key over ssh to 127\.0\.0\.1:\d+: exit 255/);
  assert.equal(readFileSync(agent.config, 'utf8'), original);
});
