/**
 * The rotation engine's decisions (resume, rollback, revoke or hold, fallbacks) against the HTTP
 * double of the Datadog API, with in-process "hosts" whose agent reports with whatever key its
 * config holds once restarted. The end-to-end tests (rotate-e2e.test.ts) run real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatadogClient } from '../../src/rotate/datadog-client.js';
import { parseInventory, type InventoryHost } from '../../src/rotate/inventory.js';
import { Journal } from '../../src/rotate/journal.js';
import { rotate, type RotateOptions } from '../../src/rotate/rotation.js';
import type { Transport } from '../../src/rotate/transports/transport.js';
import { DatadogDouble, type DoubleKey } from './support/datadog-double.js';

/** A host whose agent reports with its current key every 50 ms once restarted (unless dead). */
class SimHost implements Transport {
  config: string;
  running: string;
  deploys = 0;
  rollbacks = 0;
  dead = false;
  failDeploy = false;
  private timer: NodeJS.Timeout;
  constructor(
    readonly name: string,
    key: string,
    dd: DatadogDouble,
  ) {
    this.config = key;
    this.running = key;
    this.timer = setInterval(() => {
      if (!this.dead && dd.keys.some((k) => k.key === this.running && k.status === 'active')) dd.use(this.running, name);
    }, 50);
  }
  async deploy(key: string) {
    if (this.failDeploy) throw new Error('permission denied');
    this.deploys++;
    const backup = this.config;
    this.config = key;
    return { backup };
  }
  async restart() {
    this.running = this.config;
  }
  async rollback(backup: string | undefined) {
    this.rollbacks++;
    this.config = backup!;
    this.running = backup!;
  }
  async configuredLast4() {
    return this.config.slice(-4);
  }
  stop() {
    clearInterval(this.timer);
  }
}

async function fleet(t: { after: (fn: () => Promise<void> | void) => void }, names: string[]) {
  const dd = new DatadogDouble();
  await dd.start();
  const old = dd.addKey('fleet');
  const hosts = new Map(names.map((n) => [n, new SimHost(n, old.key, dd)]));
  t.after(async () => {
    for (const h of hosts.values()) h.stop();
    await dd.stop();
  });
  const dir = mkdtempSync(join(tmpdir(), 'rekey-engine-'));
  const inventory = parseInventory(
    'hosts:\n' + names.map((n) => `  - {name: ${n}, transport: local, config: /etc/${n}.yaml, restart: none}\n`).join(''),
    join(dir, 'inventory.yaml'),
  );
  await new Promise((r) => setTimeout(r, 120)); // every host reports once on the old key
  const options = (over: Partial<RotateOptions> = {}): RotateOptions => ({
    inventory,
    client: new DatadogClient({ url: dd.url, apiKey: old.key, appKey: dd.appKey }),
    journalPath: join(dir, 'journal.json'),
    concurrency: 2,
    dryRun: false,
    resume: false,
    force: false,
    verifyTimeoutMs: 1500,
    recentWindowMs: 3_600_000,
    pollIntervalMs: 50,
    transportFor: (host: InventoryHost) => hosts.get(host.name)!,
    ...over,
  });
  return { dd, old, hosts, options, dir };
}

const creates = (dd: DatadogDouble) => dd.requests.filter((r) => r === 'POST /api/v2/api_keys' || r.endsWith('/roll')).length;
const active = (dd: DatadogDouble) => dd.keys.filter((k: DoubleKey) => k.status === 'active');

test('happy path: every host verified, old key revoked, journal completed without the key', async (t) => {
  const { dd, old, hosts, options } = await fleet(t, ['a', 'b', 'c']);
  const report = await rotate(options());
  assert.equal(report.exit_code, 0, JSON.stringify(report, null, 2));
  assert.deepEqual(
    report.hosts.map((h) => [h.name, h.state, h.verified_by]),
    [
      ['a', 'verified', 'host-usage'],
      ['b', 'verified', 'host-usage'],
      ['c', 'verified', 'host-usage'],
    ],
  );
  assert.equal(old.status, 'revoked');
  assert.equal(active(dd).length, 1);
  const newKey = active(dd)[0]!;
  for (const host of hosts.values()) assert.equal(host.running, newKey.key);
  const text = readFileSync(options().journalPath, 'utf8');
  assert.ok(!text.includes(newKey.key), 'the key is gone from the journal once complete');
  assert.equal(statSync(options().journalPath).mode & 0o777, 0o600);
  assert.ok(!JSON.stringify(report).includes(newKey.key), 'the report never carries the key');
});

test('a host that never comes back is rolled back; the old key stays; --resume fixes it with the same key', async (t) => {
  const { dd, old, hosts, options } = await fleet(t, ['a', 'b', 'c']);
  hosts.get('b')!.dead = true;
  const first = await rotate(options());
  assert.equal(first.exit_code, 1);
  const b = first.hosts.find((h) => h.name === 'b')!;
  assert.equal(b.state, 'rolled_back');
  assert.match(b.error!, /not seen with the new key/);
  assert.equal(hosts.get('b')!.config, old.key, 'b is back on its previous config');
  assert.equal(old.status, 'active', 'old key kept while b is not on the new key');
  assert.deepEqual(
    first.stragglers.map((s) => s.host),
    ['b'],
  );
  assert.equal(creates(dd), 1);
  const newKey = dd.keys[1]!;
  assert.ok(readFileSync(options().journalPath, 'utf8').includes(newKey.key), 'unfinished: the journal keeps the key for --resume');

  hosts.get('b')!.dead = false;
  await assert.rejects(rotate(options()), (e: Error & { code?: string }) => e.code === 'ROTATION_IN_PROGRESS');
  const second = await rotate(options({ resume: true }));
  assert.equal(second.exit_code, 0, JSON.stringify(second, null, 2));
  assert.equal(creates(dd), 1, 'no second key');
  assert.equal(hosts.get('a')!.deploys, 1, 'finished hosts untouched');
  assert.equal(hosts.get('c')!.deploys, 1);
  assert.equal(hosts.get('b')!.deploys, 2);
  assert.equal(hosts.get('b')!.running, newKey.key);
  assert.equal(old.status, 'revoked');
});

test('a deployed-but-unverified host (crash after restart) is verified on resume, not deployed again', async (t) => {
  const { dd, hosts, options } = await fleet(t, ['a', 'b']);
  // Simulate the state a SIGKILL leaves: key created, a deployed, b pending.
  const newKey = dd.addKey('placeholder');
  const journal = Journal.create(options().journalPath, {
    inventory: '/x',
    url: dd.url,
    old_keys: [{ id: dd.keys[0]!.id, name: 'fleet', last4: dd.keys[0]!.key.slice(-4) }],
    mode: 'create',
    hosts: ['a', 'b'],
    transports: { a: 'local', b: 'local' },
  });
  newKey.name = journal.data.new_key_name;
  journal.update((data) => {
    data.phase = 'deploying';
    data.new_key = { id: newKey.id, name: newKey.name, last4: newKey.key.slice(-4), key: newKey.key };
    data.hosts['a'] = { state: 'deployed', transport: 'local', attempts: 1, deployed_at: new Date().toISOString(), backup: dd.keys[0]!.key };
  });
  await hosts.get('a')!.deploy(newKey.key);
  await hosts.get('a')!.restart();
  const before = creates(dd);
  const report = await rotate(options({ resume: true }));
  assert.equal(report.exit_code, 0, JSON.stringify(report, null, 2));
  assert.equal(creates(dd), before, 'no key created on resume');
  assert.equal(hosts.get('a')!.deploys, 1, 'a was not deployed again');
  assert.equal(hosts.get('b')!.deploys, 1);
  assert.deepEqual(
    active(dd).map((k) => k.id),
    [newKey.id],
  );
});

test('a crash between creating the key and recording it: resume revokes the orphan and creates one key', async (t) => {
  const { dd, options } = await fleet(t, ['a']);
  const journal = Journal.create(options().journalPath, {
    inventory: '/x',
    url: dd.url,
    old_keys: [{ id: dd.keys[0]!.id, name: 'fleet', last4: '' }],
    mode: 'create',
    hosts: ['a'],
    transports: { a: 'local' },
  });
  journal.update((data) => (data.phase = 'creating_key'));
  const orphan = dd.addKey(journal.data.new_key_name);
  const report = await rotate(options({ resume: true }));
  assert.equal(report.exit_code, 0, JSON.stringify(report, null, 2));
  assert.equal(orphan.status, 'revoked');
  assert.equal(active(dd).length, 1);
  assert.ok(report.notes.some((n) => n.includes(`revoked key …${orphan.key.slice(-4)}`)));
});

test('a host outside the inventory on the old key blocks the revoke; --force revokes anyway', async (t) => {
  const { dd, old, options } = await fleet(t, ['a']);
  const stray = setInterval(() => old.status === 'active' && dd.use(old, 'stray'), 50);
  t.after(() => clearInterval(stray));
  await new Promise((r) => setTimeout(r, 60));
  const plan = await rotate(options({ dryRun: true }));
  assert.deepEqual(
    plan.unknown_hosts.map((h) => h.host),
    ['stray'],
  );
  assert.equal(creates(dd), 0, 'dry run creates nothing');
  const report = await rotate(options());
  assert.equal(report.exit_code, 1);
  assert.deepEqual(
    report.stragglers.map((s) => s.host),
    ['stray'],
  );
  assert.equal(old.status, 'active');
  const forced = await rotate(options({ resume: true, force: true }));
  assert.equal(old.status, 'revoked');
  assert.equal(forced.forced, true);
  assert.equal(forced.exit_code, 0, 'every inventory host is verified');
});

test('without the rekey extensions (Datadog): roll falls back to create, verification to v1 hosts + config last4', async (t) => {
  const { dd, old, options } = await fleet(t, ['a', 'b']);
  dd.hostUsage = false;
  dd.roll = false;
  const report = await rotate(options({ graceMs: 3_600_000, verifyTimeoutMs: 4000 }));
  assert.equal(report.exit_code, 0, JSON.stringify(report, null, 2));
  assert.equal(report.mode, 'create');
  assert.deepEqual(
    report.hosts.map((h) => h.verified_by),
    ['v1-hosts+config', 'v1-hosts+config'],
  );
  assert.ok(report.notes.some((n) => n.includes('no roll endpoint')));
  assert.ok(report.notes.some((n) => n.includes('no per-key host usage')));
  assert.equal(old.status, 'revoked');
});

test('a deploy that fails is reported and rolled back; the key is kept for --resume', async (t) => {
  const { old, hosts, options } = await fleet(t, ['a', 'b']);
  hosts.get('a')!.failDeploy = true;
  const report = await rotate(options());
  assert.equal(report.exit_code, 1);
  const a = report.hosts.find((h) => h.name === 'a')!;
  assert.match(a.error!, /deploy failed: permission denied/);
  assert.equal(old.status, 'active');
});

test('--grace rolls the key through the roll extension; with every host verified the old key is revoked at once', async (t) => {
  const { dd, old, options } = await fleet(t, ['a', 'b']);
  const report = await rotate(options({ graceMs: 3_600_000 }));
  assert.equal(report.exit_code, 0, JSON.stringify(report, null, 2));
  assert.equal(report.mode, 'roll');
  assert.ok(dd.requests.includes(`POST /api/v2/api_keys/${old.id}/roll`));
  assert.ok(!dd.requests.includes('POST /api/v2/api_keys'));
  assert.equal(old.status, 'revoked');
  await assert.rejects(rotate(options({ graceMs: 1000, keyIds: ['key-1', 'key-2'] })), /exactly one --key with --grace/);
});
