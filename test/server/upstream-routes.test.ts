/**
 * Issue 19, build 1: `GET|PUT /api/v2/rekey/upstream` over real HTTP on both dialects.
 * - an admin sets the upstream (site or URL, key) and reads it back: last 4 only, never the key;
 * - standard and read_only users get 403, a scoped admin key gets 403 (no scope grants it);
 * - each organisation sees and changes only its own upstream (404 UPSTREAM_NOT_SET for another);
 * - the key is stored encrypted, audited as upstream.set, and never in a response or the log.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { UpstreamKeyCipher } from '../../src/relay/upstream-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { createServerLogger } from '../../src/server/logger.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';
import { listenLocal } from './live-server.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

const UPSTREAM_KEY = 'dd0123456789abcdef0123456789upk9';

for (const dialect of DIALECTS) {
  describe(`relay upstream API on ${dialect.name}`, () => {
    let db: TestStore;
    let app: FastifyInstance;
    let url: string;
    let acme: SeededOrg;
    let globex: SeededOrg;
    let log = '';

    beforeEach(async () => {
      db = await dialect.createStore();
      const hasher = createKeyHasher(await db.store.deploymentSecret());
      acme = await seedOrg(db.store, hasher, 'acme');
      globex = await seedOrg(db.store, hasher, 'globex');
      log = '';
      const stream = new Writable({ write: (chunk, _encoding, done) => ((log += chunk), done()) });
      app = await buildApp({ store: db.store, hasher, logger: createServerLogger({ level: 'debug', stream }) });
      url = await listenLocal(app);
    });
    afterEach(async () => {
      await app.close();
      await db.destroy();
    });

    const put = (org: SeededOrg, role: 'admin' | 'standard' | 'read_only', body: unknown) =>
      fetch(`${url}/api/v2/rekey/upstream`, {
        method: 'PUT',
        headers: { ...headersFor(org, role), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const get = (org: SeededOrg, role: 'admin' | 'standard' | 'read_only') => fetch(`${url}/api/v2/rekey/upstream`, { headers: headersFor(org, role) });

    it('an admin sets the upstream and reads it back: the last 4 of the key, never the key', async () => {
      const before = await get(acme, 'admin');
      assert.equal(before.status, 404);
      assert.match(await before.text(), /has no upstream/);

      const set = await put(acme, 'admin', { site: 'datadoghq.eu', api_key: UPSTREAM_KEY });
      const setText = await set.text();
      assert.equal(set.status, 200, setText);
      assert.doesNotMatch(setText, new RegExp(UPSTREAM_KEY));
      const shown = JSON.parse(setText) as Record<string, unknown>;
      assert.deepEqual(
        { ...shown, updated_at: 'x' },
        {
          org_id: acme.org.id,
          mode: 'relay',
          site: 'datadoghq.eu',
          urls: { metrics: 'https://api.datadoghq.eu', logs: 'https://http-intake.logs.datadoghq.eu', traces: 'https://trace.agent.datadoghq.eu' },
          api_key_last4: 'upk9',
          updated_at: 'x',
        },
      );
      const read = await get(acme, 'admin');
      assert.equal(read.status, 200);
      assert.deepEqual(await read.json(), shown);

      // Stored encrypted (the relay decrypts it), audited with the last 4 only.
      const stored = await db.store.getUpstream(acme.org.id);
      assert.ok(stored !== undefined);
      assert.doesNotMatch(stored.encryptedApiKey, new RegExp(UPSTREAM_KEY));
      assert.equal(new UpstreamKeyCipher(await db.store.deploymentSecret()).decrypt(acme.org.id, stored.encryptedApiKey), UPSTREAM_KEY);
      const audit = await db.store.listAuditEvents(acme.org.id, { action: 'upstream.set', page: { size: 10, number: 0 } });
      assert.equal(audit.items.length, 1);
      assert.equal(audit.items[0]!.actorId, acme.users.admin.user.id);
      assert.doesNotMatch(JSON.stringify(audit.items), new RegExp(UPSTREAM_KEY));

      // A URL instead of a site, the key left out: the stored key is kept.
      const moved = await put(acme, 'admin', { url: 'http://127.0.0.1:9/', mode: 'standalone' });
      assert.equal(moved.status, 200, await moved.clone().text());
      assert.deepEqual(await moved.json(), {
        ...shown,
        mode: 'standalone',
        site: 'http://127.0.0.1:9',
        urls: { metrics: 'http://127.0.0.1:9', logs: 'http://127.0.0.1:9', traces: 'http://127.0.0.1:9' },
        updated_at: ((await (await get(acme, 'admin')).json()) as { updated_at: string }).updated_at,
      });

      assert.doesNotMatch(log, new RegExp(UPSTREAM_KEY), 'the upstream key is never logged');
      assert.ok(log.includes('/api/v2/rekey/upstream'), 'the requests were logged');
    });

    it('refuses what the CLI refuses, with INVALID_UPSTREAM, and changes nothing', async () => {
      for (const body of [
        { site: 'datadoghq.con', api_key: UPSTREAM_KEY },
        { site: 'http://upstream.example', api_key: UPSTREAM_KEY },
        { site: 'datadoghq.com', api_key: 'has space' },
        { site: 'datadoghq.com' },
        { api_key: UPSTREAM_KEY },
        { site: 'datadoghq.com', url: 'https://x.example', api_key: UPSTREAM_KEY },
        { site: 'datadoghq.com', metric_url: 'https://x.example', api_key: UPSTREAM_KEY },
      ]) {
        const response = await put(acme, 'admin', body);
        const text = await response.text();
        assert.equal(response.status, 400, `${JSON.stringify(body)} → ${text}`);
        assert.doesNotMatch(text, new RegExp(UPSTREAM_KEY));
        assert.doesNotMatch(text, /has space/);
      }
      const extra = await put(acme, 'admin', { site: 'datadoghq.com', api_key: UPSTREAM_KEY, mode: 'mirror' });
      assert.equal(extra.status, 400);
      assert.equal(await db.store.getUpstream(acme.org.id), undefined);
      // http:// to another machine only when allowed.
      const insecure = await put(acme, 'admin', { site: 'http://upstream.example', api_key: UPSTREAM_KEY, allow_insecure: true });
      assert.equal(insecure.status, 200, await insecure.text());
    });

    it('standard and read_only users get 403; a scoped admin key gets 403 whatever its scopes', async () => {
      assert.equal((await put(acme, 'admin', { site: 'datadoghq.com', api_key: UPSTREAM_KEY })).status, 200);
      for (const role of ['standard', 'read_only'] as const) {
        const read = await get(acme, role);
        assert.equal(read.status, 403, role);
        const readText = await read.text();
        assert.doesNotMatch(readText, /upk9|datadoghq/, `${role} learns nothing of the upstream`);
        const write = await put(acme, role, { site: 'https://attacker.example', api_key: 'attackerkey0000' });
        assert.equal(write.status, 403, role);
      }
      const hasher = createKeyHasher(await db.store.deploymentSecret());
      const scopedSecret = generateKey('app');
      await db.store.createAppKey(
        acme.org.id,
        acme.users.admin.user.id,
        {
          name: 'every scope',
          hash: hasher.hash(scopedSecret),
          last4: last4(scopedSecret),
          scopes: ['api_keys_read', 'api_keys_write', 'user_access_manage', 'org_app_keys_write'],
        },
        CLI_ACTOR,
      );
      const scoped = { 'dd-api-key': acme.apiSecret, 'dd-application-key': scopedSecret };
      const scopedRead = await fetch(`${url}/api/v2/rekey/upstream`, { headers: scoped });
      assert.equal(scopedRead.status, 403);
      assert.match(await scopedRead.text(), /without scopes/);
      const scopedWrite = await fetch(`${url}/api/v2/rekey/upstream`, {
        method: 'PUT',
        headers: { ...scoped, 'content-type': 'application/json' },
        body: JSON.stringify({ site: 'https://attacker.example', api_key: 'attackerkey0000' }),
      });
      assert.equal(scopedWrite.status, 403);
      assert.equal((await db.store.getUpstream(acme.org.id))?.site, 'datadoghq.com', 'nothing changed');
    });

    it('each organisation reads and sets only its own upstream', async () => {
      assert.equal((await put(acme, 'admin', { site: 'datadoghq.com', api_key: UPSTREAM_KEY })).status, 200);
      const other = await get(globex, 'admin');
      assert.equal(other.status, 404, 'globex has none, whatever acme has');
      assert.doesNotMatch(await other.text(), /upk9/);
      assert.equal((await put(globex, 'admin', { site: 'datadoghq.eu', api_key: 'globexkey0000glbx' })).status, 200);
      assert.equal(((await (await get(acme, 'admin')).json()) as { site: string; api_key_last4: string }).api_key_last4, 'upk9');
      assert.equal(((await (await get(globex, 'admin')).json()) as { site: string }).site, 'datadoghq.eu');
      assert.equal((await db.store.getUpstream(acme.org.id))?.site, 'datadoghq.com');
    });
  });
}
