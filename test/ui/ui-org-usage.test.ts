/**
 * The pages that show every key's usage (/keys: hosts in the last 24 h per key; /hosts: one
 * row per host with the key it used last), on SQLite and PostgreSQL: what they show, that
 * another organisation's usage never appears, and that they cost the same number of store
 * calls whatever the number of keys (issue 8: one usage query per key made them slow).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import type { ApiKey, Store } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS } from '../support/dialects.js';
import { createDeployment, signIn, uiApp, type SignedIn, type UiDeployment } from './ui-harness.js';

const HOUR = 3_600_000;

/** The store, with every call the UI makes to it recorded by method name. */
function countingStore(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const counting = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counting, calls };
}

/** The "Hosts (24 h)" cell of a key's row on /keys. */
function hostsLast24h(body: string, key: ApiKey): number {
  const match = new RegExp(`data-key-id="${key.id}"[\\s\\S]*?data-label="Hosts \\(24 h\\)">(\\d+)<`).exec(body);
  assert.ok(match, `a row for …${key.last4}`);
  return Number(match[1]);
}

/** The <tr> of /hosts that names `host`. */
function hostRow(body: string, host: string): string {
  const rows = [...body.matchAll(/<tr><td data-label="Host" class="mono">([^<]*)<\/td>[\s\S]*?<\/tr>/g)].filter((m) => m[1] === host);
  assert.equal(rows.length, 1, `one row for ${host}`);
  return rows[0]![0];
}

for (const dialect of DIALECTS) {
  describe(`pages over every key's usage on ${dialect.name}`, () => {
    let d: UiDeployment;
    let app: FastifyInstance;
    let admin: SignedIn;
    let calls: string[];
    const now = Date.now();
    const at = (hoursAgo: number) => new Date(now - hoursAgo * HOUR);
    const newKey = (orgId: string, name: string) => {
      const secret = generateKey('api');
      return d.store.createApiKey(orgId, { name, hash: d.hasher.hash(secret), last4: last4(secret) }, CLI_ACTOR);
    };
    let rolled: ApiKey;
    let revoked: ApiKey;

    before(async () => {
      d = await createDeployment('acme', dialect);
      const counting = countingStore(d.store);
      calls = counting.calls;
      app = await uiApp({ ...d, store: counting.store });
      admin = await signIn(app, d.users.admin);

      rolled = await newKey(d.org.id, 'rolled');
      revoked = await newKey(d.org.id, 'revoked');
      const globex = await d.store.createOrg('globex', CLI_ACTOR);
      const globexKey = await newKey(globex.id, 'globex key');
      await d.store.recordKeyUsage([
        // web-1 moved from the first key to `rolled`; web-2 was last seen two days ago.
        { keyId: d.firstKey.id, host: 'web-1', firstSeen: at(72), lastSeen: at(2), points: 10, agentVersion: '7.50.0' },
        { keyId: d.firstKey.id, host: 'web-2', firstSeen: at(72), lastSeen: at(48), points: 10, agentVersion: '7.50.0' },
        { keyId: rolled.id, host: 'web-1', firstSeen: at(24), lastSeen: at(1), points: 5, agentVersion: '7.51.0' },
        { keyId: revoked.id, host: 'web-3', firstSeen: at(5), lastSeen: at(3), points: 1 },
        // Another organisation: a host of the same name, seen later, and one of its own.
        { keyId: globexKey.id, host: 'web-1', firstSeen: at(500), lastSeen: at(0), points: 9, agentVersion: 'globex-agent' },
        { keyId: globexKey.id, host: 'globex-only', firstSeen: at(1), lastSeen: at(0), points: 9 },
      ]);
      await d.store.revokeApiKey(d.org.id, revoked.id, CLI_ACTOR);
    });
    after(async () => {
      await app.close();
      await d.destroy();
    });

    it('/keys counts each active key’s hosts seen in the last 24 h', async () => {
      const page = await admin.get('/keys');
      assert.equal(page.statusCode, 200);
      assert.equal(hostsLast24h(page.body, d.firstKey), 1, 'web-1; web-2 is two days old');
      assert.equal(hostsLast24h(page.body, rolled), 1);
    });

    it('/hosts shows each host once, with the key it used last and the keys before; never another org’s', async () => {
      const page = await admin.get('/hosts');
      assert.equal(page.statusCode, 200);
      const web1 = hostRow(page.body, 'web-1');
      assert.match(web1, new RegExp(`href="/keys/${rolled.id}" class="mono">…${rolled.last4}</a>`), 'the key it used last');
      assert.match(web1, new RegExp(`before: <a href="/keys/${d.firstKey.id}" class="mono">…${d.firstKey.last4}</a>`));
      assert.match(web1, /7\.51\.0/);
      assert.match(hostRow(page.body, 'web-2'), new RegExp(`…${d.firstKey.last4}`));
      assert.match(hostRow(page.body, 'web-3'), /\(revoked\)/);
      assert.ok(!page.body.includes('globex'), 'nothing of the other organisation');
      const order = [...page.body.matchAll(/data-label="Host" class="mono">([^<]*)</g)].map((m) => m[1]);
      assert.deepEqual(order, ['web-1', 'web-3', 'web-2'], 'most recently seen first');
    });

    it('makes the same number of store calls with 3 keys as with 13', async () => {
      const callsFor = async (path: string) => {
        calls.length = 0;
        assert.equal((await admin.get(path)).statusCode, 200);
        return [...calls].sort();
      };
      const few = { keys: await callsFor('/keys'), hosts: await callsFor('/hosts') };
      for (let i = 0; i < 10; i++) {
        const key = await newKey(d.org.id, `more ${i}`);
        await d.store.recordKeyUsage([{ keyId: key.id, host: `more-${i}`, firstSeen: at(2), lastSeen: at(1), points: 1 }]);
      }
      assert.deepEqual(await callsFor('/keys'), few.keys);
      assert.deepEqual(await callsFor('/hosts'), few.hosts);
      assert.ok(!few.keys.includes('listKeyHosts') && !few.hosts.includes('listKeyHosts'), 'no per-key usage query');
      assert.match((await admin.get('/hosts')).body, /more-9/);
    });
  });
}
