/**
 * `rekey rotate` end to end with real processes: a rekey server, 10 rekey-agent processes on
 * `local` hosts receiving DogStatsD counts throughout, one rotation. Every host must be
 * verified on the new key, the old key revoked, and every single count stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRekey } from '../support/processes.js';
import { api, pumpCounters, startFleetAgent, startServer, stopFleetAgent, totalsByHost, until, writeInventory, type FleetAgent } from './support/fleet.js';

const METRIC = 'rotate.e2e.sent';

test('10 agents: one rotate verifies every host on the new key, revokes the old key, loses zero points', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-rotate-e2e-'));
  const server = await startServer(join(dir, 'data'));
  t.after(() => server.stop());
  // The start of the 10 s DogStatsD bucket before this one: an agent stamps a bucket's counts with
  // the bucket's start, so "now − 5 s" left out the first bucket whenever the pump began more than
  // 5 s into it — 4 of each host's 46 counts missing from the read-back, in CI (2026-12-01).
  const startedAt = Math.floor(Date.now() / 10_000) * 10 - 10;
  const agents: FleetAgent[] = [];
  t.after(async () => {
    for (const agent of agents) await stopFleetAgent(agent, 'SIGKILL').catch(() => undefined);
  });
  for (let i = 1; i <= 10; i++) agents.push(await startFleetAgent(dir, `e2e-host-${String(i).padStart(2, '0')}`, server.url, server.apiKey.key));
  const pump = pumpCounters(agents, METRIC);
  t.after(() => pump.stop());
  // Every agent is seen on the old key first (the rotation must find them there).
  await until(async () => (await api(server, `/api/v2/api_keys/${server.apiKey.id}/hosts`)).body.data.length === 10, 60_000, '10 hosts on the old key');

  const inventory = join(dir, 'inventory.yaml');
  writeInventory(
    inventory,
    agents.map((a) => ({ name: a.name, transport: 'local', config: a.config, restart: `sighup:${a.pidFile}` })),
  );
  const env = { ...process.env, DD_API_KEY: server.apiKey.key, DD_APP_KEY: server.appKey, DD_SITE: server.url };

  const dry = await runRekey(['rotate', '--inventory', inventory, '--dry-run', '--json'], { env, timeoutMs: 60_000 });
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.deepEqual(
    plan.old_keys.map((k: { id: string }) => k.id),
    [server.apiKey.id],
  );
  assert.equal(plan.key_selection, 'used-by-inventory');
  assert.deepEqual(plan.unknown_hosts, []);

  const result = await runRekey(['rotate', '--inventory', inventory, '--json', '--concurrency', '4', '--verify-timeout', '60s'], { env, timeoutMs: 240_000 });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.hosts.length, 10);
  for (const host of report.hosts) {
    assert.equal(host.state, 'verified', JSON.stringify(host));
    assert.equal(host.verified_by, 'host-usage');
  }
  assert.deepEqual(
    report.old_keys.map((k: { revoked: boolean }) => k.revoked),
    [true],
  );
  assert.match(result.stderr, /journal .*\.rekey-rotate\.journal\.json \(mode 0600/);

  // The server agrees: old key revoked, the new key the only active one, every host on it.
  const oldKey = await api(server, `/api/v2/api_keys/${server.apiKey.id}`, { apiKey: server.apiKey.key }).catch(() => undefined);
  assert.ok(oldKey === undefined || oldKey.status === 403, 'the old key no longer authenticates');
  const newKey = readNewKey(agents);
  const keys = await api(server, '/api/v2/api_keys?page[size]=100', { apiKey: newKey });
  assert.equal(keys.status, 200);
  const active = keys.body.data.filter((k: { attributes: { status?: string } }) => (k.attributes.status ?? 'active') === 'active');
  assert.deepEqual(
    active.map((k: { id: string }) => k.id),
    [report.new_key.id],
  );
  const revoked = await api(server, `/api/v2/api_keys/${server.apiKey.id}`, { apiKey: newKey });
  assert.equal(revoked.body.data.attributes.status, 'revoked');
  const onNew = await api(server, `/api/v2/api_keys/${report.new_key.id}/hosts`, { apiKey: newKey });
  assert.deepEqual(
    onNew.body.data.map((h: { attributes: { host: string } }) => h.attributes.host).sort(),
    agents.map((a) => a.name),
  );
  for (const agent of agents) assert.equal(readFileSync(agent.config, 'utf8').match(/^api_key: (\w+)$/m)![1], newKey);
  assert.doesNotMatch(readFileSync(join(dir, '.rekey-rotate.journal.json'), 'utf8'), new RegExp(newKey), 'the completed journal no longer holds the key');

  // Zero points lost: keep pumping a little on the new key, stop, let the 10 s buckets flush.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await pump.stop();
  const expected = new Map(agents.map((a) => [a.name, a.sent]));
  let totals = new Map<string, number>();
  await until(
    async () => {
      totals = await totalsByHost(server, METRIC, newKey, startedAt);
      return agents.every((a) => (totals.get(a.name) ?? 0) >= a.sent);
    },
    60_000,
    'every count stored',
  ).catch((error: Error) => {
    // Say what the server and an agent printed (once, in CI, 4 counts per host were missing: the first-bucket cut above).
    const agentTail = agents[0]!.process
      .output()
      .slice(-3000)
      .replace(/[0-9a-f]{32,40}/g, '<key>');
    throw new Error(
      `${error.message} (expected ${JSON.stringify([...expected])}, got ${JSON.stringify([...totals])})\nserver:\n${server.logTail()}\nagent ${agents[0]!.name}:\n${agentTail}`,
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  totals = await totalsByHost(server, METRIC, newKey, startedAt);
  for (const agent of agents) assert.equal(totals.get(agent.name), agent.sent, `${agent.name}: every count, none twice`);
});

function readNewKey(agents: FleetAgent[]): string {
  return readFileSync(agents[0]!.config, 'utf8').match(/^api_key: (\w+)$/m)![1]!;
}
