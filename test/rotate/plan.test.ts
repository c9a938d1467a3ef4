import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan } from '../../src/rotate/plan.js';
import { DatadogClient } from '../../src/rotate/datadog-client.js';
import { parseInventory } from '../../src/rotate/inventory.js';
import { DatadogDouble } from './support/datadog-double.js';

const HOUR = 3_600_000;
const inventory = parseInventory(
  'hosts:\n' + ['web-1', 'web-2', 'web-3'].map((n) => `  - {name: ${n}, transport: local, config: /etc/${n}.yaml, restart: none}\n`).join(''),
  '/inv.yaml',
);

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const dd = new DatadogDouble();
  await dd.start();
  t.after(() => dd.stop());
  const fleet = dd.addKey('fleet');
  const ci = dd.addKey('ci');
  const client = new DatadogClient({ url: dd.url, apiKey: fleet.key, appKey: dd.appKey });
  return { dd, fleet, ci, client };
}

test('plan: replaces the keys the inventory uses, finds recent users outside the inventory, ignores stale ones', async (t) => {
  const { dd, fleet, ci, client } = await setup(t);
  const now = Date.now();
  dd.use(fleet, 'web-1', now - 60_000);
  dd.use(fleet, 'web-2', now - 2 * HOUR);
  dd.use(fleet, 'forgotten-1', now - 3 * HOUR);
  dd.use(fleet, 'decommissioned', now - 30 * HOUR);
  dd.use(ci, 'ci-runner', now - 1000);
  const plan = await computePlan(client, inventory, { keyIds: undefined, exclude: [], recentWindowMs: 24 * HOUR, now });
  assert.equal(plan.keySelection, 'used-by-inventory');
  assert.deepEqual(
    plan.oldKeys.map((k) => k.id),
    [fleet.id],
    'the ci key is used by no inventory host: not replaced',
  );
  assert.equal(plan.hostUsage, true);
  assert.deepEqual(
    plan.unknownHosts.map((h) => h.host),
    ['forgotten-1'],
    'decommissioned (30 h ago) is outside the window',
  );
  assert.equal(plan.unknownHosts[0]!.keyLast4, fleet.key.slice(-4));
  assert.deepEqual(plan.unseenInventoryHosts, ['web-3']);
});

test('plan: --key picks exactly those keys; an unknown or revoked id is a usage error', async (t) => {
  const { dd, ci, client } = await setup(t);
  dd.use(ci, 'ci-runner');
  const plan = await computePlan(client, inventory, { keyIds: [ci.id], exclude: [], recentWindowMs: HOUR });
  assert.equal(plan.keySelection, 'explicit');
  assert.deepEqual(
    plan.oldKeys.map((k) => k.id),
    [ci.id],
  );
  assert.deepEqual(
    plan.unknownHosts.map((h) => h.host),
    ['ci-runner'],
  );
  await assert.rejects(
    computePlan(client, inventory, { keyIds: ['nope'], exclude: [], recentWindowMs: HOUR }),
    (e: Error & { code?: string }) => e.code === 'ROTATION_KEY_NOT_FOUND',
  );
  ci.status = 'revoked';
  await assert.rejects(computePlan(client, inventory, { keyIds: [ci.id], exclude: [], recentWindowMs: HOUR }), /No active API key with id key-2/);
});

test("plan: with no usage yet every active key is replaced; keys excluded (this rotation's) never are", async (t) => {
  const { fleet, ci, client } = await setup(t);
  const plan = await computePlan(client, inventory, { keyIds: undefined, exclude: [ci.id], recentWindowMs: HOUR });
  assert.equal(plan.keySelection, 'all-active');
  assert.deepEqual(
    plan.oldKeys.map((k) => k.id),
    [fleet.id],
  );
});

test('plan against a server without per-key host usage (Datadog): all active keys, no unknown-host detection', async (t) => {
  const { dd, fleet, ci, client } = await setup(t);
  dd.hostUsage = false;
  dd.use(fleet, 'web-1');
  const plan = await computePlan(client, inventory, { keyIds: undefined, exclude: [], recentWindowMs: HOUR });
  assert.equal(plan.hostUsage, false);
  assert.equal(plan.keySelection, 'all-active');
  assert.deepEqual(plan.oldKeys.map((k) => k.id).sort(), [fleet.id, ci.id].sort());
  assert.deepEqual(plan.unknownHosts, []);
});
