/**
 * Datadog's legacy v1 key endpoints (/api/v1/api_key, /api/v1/application_key) driven by two
 * clients nobody here wrote: the official `@datadog/datadog-api-client` (v1 KeyManagementApi,
 * every answer checked against its own models) and the zorkian Go client compiled from
 * Debian's package. On SQLite and PostgreSQL. Each test is one row of test/compat/matrix.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
// The v1 API only: the package's main entry also loads v2, which this file never calls (~3 s CPU).
import * as v1 from '@datadog/datadog-api-client/dist/packages/datadog-api-client-v1/index.js';
import { DIALECTS } from '../support/dialects.js';
import { clientConfiguration, expectApiException, startLiveServer, type LiveServer } from '../server/live-server.js';
import type { SeededOrg } from '../server/seed.js';
import { compatCase } from './matrix.js';
import { assertParsed } from './official-model-check.js';
import { buildZorkianClient, type ZorkianClient } from './zorkian-client.js';

const LAST_KEY_MESSAGE = "It isn't possible to have zero API keys. Create a new API key before revoking this one.";
const V1_CREATED = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ZorkianApiKey {
  created_by?: string;
  name?: string;
  key?: string;
  created?: string;
}
interface ZorkianAppKey {
  owner?: string;
  name?: string;
  hash?: string;
}

for (const dialect of DIALECTS) {
  describe(`v1 key endpoints with foreign clients on ${dialect.name}`, () => {
    let live: LiveServer;
    let acme: SeededOrg;
    let globex: SeededOrg;
    let zorkian: ZorkianClient;
    let api: v1.KeyManagementApi;
    const admin = () => ({ apiKey: acme.apiSecret, appKey: acme.users.admin.appSecret });

    before(async () => {
      live = await startLiveServer(() => dialect.createStore(), ['Acme', 'Globex']);
      [acme, globex] = live.orgs as [SeededOrg, SeededOrg];
      zorkian = await buildZorkianClient(live.baseUrl);
      api = new v1.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.admin.appSecret));
    });
    after(async () => {
      await zorkian?.close();
      await live?.close();
    });

    // ---- official client, API keys ----
    let created: v1.ApiKey;
    compatCase('official-v1-create-api-key', async () => {
      const response = await api.createAPIKey({ body: { name: 'v1 official' } });
      assertParsed(response);
      created = response.apiKey!;
      assert.match(created.key!, /^[0-9a-f]{32}$/);
      assert.equal(created.name, 'v1 official');
      assert.match(created.created!, V1_CREATED);
      assert.equal(created.createdBy, acme.users.admin.user.email);
      // The key works at once.
      assert.equal((await new v1.AuthenticationApi(clientConfiguration(live.baseUrl, created.key!)).validate()).valid, true);
    });

    compatCase('official-v1-list-api-keys', async () => {
      const listed = await api.listAPIKeys();
      assertParsed(listed);
      const names = listed.apiKeys!.map((k) => k.name);
      assert.deepEqual(names, ['Acme first key', 'v1 official']);
      // The difference: no key is shown again; `key` is the id, never the secret.
      for (const key of listed.apiKeys!) assert.match(key.key!, UUID);
      assert.ok(!JSON.stringify(listed).includes(created.key!));
      // Another organisation's keys are not there.
      assert.ok(!names.some((name) => name?.startsWith('Globex')));
    });

    compatCase('official-v1-get-api-key', async () => {
      const byKey = await api.getAPIKey({ key: created.key! });
      assertParsed(byKey);
      assert.equal(byKey.apiKey!.name, 'v1 official');
      assert.match(byKey.apiKey!.key!, UUID);
      const byId = await api.getAPIKey({ key: byKey.apiKey!.key! });
      assert.deepEqual(byId, byKey);
      // Another organisation's key, by key or id: 404.
      await expectApiException(api.getAPIKey({ key: globex.apiSecret }), 404);
      await expectApiException(api.getAPIKey({ key: globex.apiKey.id }), 404);
    });

    compatCase('official-v1-update-api-key', async () => {
      const renamed = await api.updateAPIKey({ key: created.key!, body: { name: 'v1 official renamed' } });
      assertParsed(renamed);
      assert.equal(renamed.apiKey!.name, 'v1 official renamed');
      const store = await live.db.store.getApiKey(acme.org.id, renamed.apiKey!.key!);
      assert.equal(store?.name, 'v1 official renamed');
      // read_only may not rename.
      const readOnly = new v1.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.read_only.appSecret));
      await expectApiException(readOnly.updateAPIKey({ key: created.key!, body: { name: 'nope' } }), 403);
    });

    compatCase('official-v1-delete-api-key', async () => {
      const deleted = await api.deleteAPIKey({ key: created.key! });
      assertParsed(deleted);
      assert.equal(deleted.apiKey!.name, 'v1 official renamed');
      // Revoked: refused at once, and gone from the v1 list.
      await expectApiException(new v1.AuthenticationApi(clientConfiguration(live.baseUrl, created.key!)).validate(), 403);
      await expectApiException(api.getAPIKey({ key: created.key! }), 404);
      assert.deepEqual(
        (await api.listAPIKeys()).apiKeys!.map((k) => k.name),
        ['Acme first key'],
      );
    });

    compatCase('official-v1-delete-last-api-key', async () => {
      const body = await expectApiException(api.deleteAPIKey({ key: acme.apiSecret }), 400);
      assert.ok(body.includes(LAST_KEY_MESSAGE), body);
      assert.equal((await live.db.store.getApiKey(acme.org.id, acme.apiKey.id))?.status, 'active');
    });

    // ---- zorkian, API keys ----
    let zorkianKey: ZorkianApiKey;
    compatCase('zorkian-create-api-key', async () => {
      const outcome = await zorkian.call<ZorkianApiKey>('CreateAPIKey', admin(), { name: 'v1 zorkian' });
      assert.equal(outcome.ok, true, outcome.error);
      zorkianKey = outcome.value;
      assert.match(zorkianKey.key!, /^[0-9a-f]{32}$/);
      assert.equal(zorkianKey.name, 'v1 zorkian');
      assert.equal(zorkianKey.created_by, acme.users.admin.user.email);
      // Go parsed `created` in v1's layout (it fails the call otherwise) into a real time.
      assert.ok(Math.abs(Date.parse(zorkianKey.created!) - Date.now()) < 60_000, zorkianKey.created);
      assert.equal((await zorkian.call<boolean>('Validate', { apiKey: zorkianKey.key! })).value, true);
    });

    compatCase('zorkian-get-api-keys', async () => {
      const outcome = await zorkian.call<ZorkianApiKey[]>('GetAPIKeys', admin());
      assert.equal(outcome.ok, true, outcome.error);
      assert.deepEqual(
        outcome.value.map((k) => k.name),
        ['Acme first key', 'v1 zorkian'],
      );
      for (const key of outcome.value) assert.match(key.key!, UUID);
    });

    compatCase('zorkian-get-api-key', async () => {
      const outcome = await zorkian.call<ZorkianApiKey>('GetAPIKey', admin(), { arg: zorkianKey.key! });
      assert.equal(outcome.ok, true, outcome.error);
      assert.equal(outcome.value.name, 'v1 zorkian');
      assert.match(outcome.value.key!, UUID);
      const missing = await zorkian.call('GetAPIKey', admin(), { arg: globex.apiSecret });
      assert.equal(missing.ok, false);
      assert.match(missing.error!, /404/);
    });

    compatCase('zorkian-update-api-key', async () => {
      const outcome = await zorkian.call<ZorkianApiKey>('UpdateAPIKey', admin(), { arg: zorkianKey.key!, name: 'v1 zorkian renamed' });
      assert.equal(outcome.ok, true, outcome.error);
      // The client copies the answer into its struct: the key becomes the id.
      assert.match(outcome.value.key!, UUID);
      assert.equal((await live.db.store.getApiKey(acme.org.id, outcome.value.key!))?.name, 'v1 zorkian renamed');
    });

    compatCase('zorkian-delete-api-key', async () => {
      const outcome = await zorkian.call('DeleteAPIKey', admin(), { arg: zorkianKey.key! });
      assert.equal(outcome.ok, true, outcome.error);
      assert.equal((await zorkian.call<boolean>('Validate', { apiKey: zorkianKey.key! })).value, false);
      // The never-zero rule through zorkian too: the last key stays.
      const last = await zorkian.call('DeleteAPIKey', admin(), { arg: acme.apiSecret });
      assert.equal(last.ok, false);
      assert.ok(last.error!.includes('400') && last.error!.includes('zero API keys'), last.error);
    });

    compatCase('zorkian-validate', async () => {
      assert.deepEqual(await zorkian.call('Validate', { apiKey: acme.apiSecret }), { ok: true, value: true });
      assert.deepEqual(await zorkian.call('Validate', { apiKey: '0'.repeat(32) }), { ok: true, value: false });
    });

    // ---- official client, application keys ----
    let appKey: v1.ApplicationKey;
    compatCase('official-v1-create-app-key', async () => {
      const response = await api.createApplicationKey({ body: { name: 'v1 app official' } });
      assertParsed(response);
      appKey = response.applicationKey!;
      assert.match(appKey.hash!, /^[0-9a-f]{40}$/);
      assert.equal(appKey.owner, acme.users.admin.user.email);
      // It authenticates as its owner.
      const asNew = new v1.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret, appKey.hash!));
      assertParsed(await asNew.listAPIKeys());
    });

    compatCase('official-v1-list-app-keys', async () => {
      const listed = await api.listApplicationKeys();
      assertParsed(listed);
      assert.deepEqual(
        listed.applicationKeys!.map((k) => k.name),
        ['admin key', 'standard key', 'read_only key', 'v1 app official'],
      );
      for (const key of listed.applicationKeys!) assert.match(key.hash!, UUID);
      assert.ok(!JSON.stringify(listed).includes(appKey.hash!));
    });

    compatCase('official-v1-get-app-key', async () => {
      const got = await api.getApplicationKey({ key: appKey.hash! });
      assertParsed(got);
      assert.equal(got.applicationKey!.name, 'v1 app official');
      assert.match(got.applicationKey!.hash!, UUID);
      await expectApiException(api.getApplicationKey({ key: globex.users.admin.appSecret }), 404);
    });

    compatCase('official-v1-update-app-key', async () => {
      const renamed = await api.updateApplicationKey({ key: appKey.hash!, body: { name: 'v1 app renamed' } });
      assertParsed(renamed);
      assert.equal(renamed.applicationKey!.name, 'v1 app renamed');
      // A standard user may not rename the admin's key.
      const standard = new v1.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.standard.appSecret));
      await expectApiException(standard.updateApplicationKey({ key: appKey.hash!, body: { name: 'x' } }), 403);
    });

    compatCase('official-v1-delete-app-key', async () => {
      const deleted = await api.deleteApplicationKey({ key: appKey.hash! });
      assertParsed(deleted);
      assert.equal(deleted.applicationKey!.name, 'v1 app renamed');
      const asDeleted = new v1.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret, appKey.hash!));
      await expectApiException(asDeleted.listAPIKeys(), 403);
    });

    // ---- zorkian, application keys ----
    let zorkianApp: ZorkianAppKey;
    compatCase('zorkian-create-app-key', async () => {
      const outcome = await zorkian.call<ZorkianAppKey>(
        'CreateAPPKey',
        { apiKey: acme.apiSecret, appKey: acme.users.standard.appSecret },
        { name: 'v1 app zorkian' },
      );
      assert.equal(outcome.ok, true, outcome.error);
      zorkianApp = outcome.value;
      assert.match(zorkianApp.hash!, /^[0-9a-f]{40}$/);
      assert.equal(zorkianApp.owner, acme.users.standard.user.email);
    });

    compatCase('zorkian-get-app-keys', async () => {
      const outcome = await zorkian.call<ZorkianAppKey[]>('GetAPPKeys', admin());
      assert.equal(outcome.ok, true, outcome.error);
      assert.ok(outcome.value.some((k) => k.name === 'v1 app zorkian' && k.owner === acme.users.standard.user.email));
      for (const key of outcome.value) assert.match(key.hash!, UUID);
    });

    compatCase('zorkian-get-app-key', async () => {
      const outcome = await zorkian.call<ZorkianAppKey>('GetAPPKey', admin(), { arg: zorkianApp.hash! });
      assert.equal(outcome.ok, true, outcome.error);
      assert.equal(outcome.value.name, 'v1 app zorkian');
      assert.match(outcome.value.hash!, UUID);
    });

    compatCase('zorkian-update-app-key', async () => {
      const owner = { apiKey: acme.apiSecret, appKey: acme.users.standard.appSecret };
      const outcome = await zorkian.call<ZorkianAppKey>('UpdateAPPKey', owner, { arg: zorkianApp.hash!, name: 'v1 app zorkian renamed' });
      assert.equal(outcome.ok, true, outcome.error);
      assert.equal((await live.db.store.getAppKey(acme.org.id, outcome.value.hash!))?.name, 'v1 app zorkian renamed');
    });

    compatCase('zorkian-delete-app-key', async () => {
      const readOnly = await zorkian.call('DeleteAPPKey', { apiKey: acme.apiSecret, appKey: acme.users.read_only.appSecret }, { arg: zorkianApp.hash! });
      assert.equal(readOnly.ok, false);
      assert.match(readOnly.error!, /403/);
      const outcome = await zorkian.call('DeleteAPPKey', admin(), { arg: zorkianApp.hash! });
      assert.equal(outcome.ok, true, outcome.error);
      assert.equal((await zorkian.call('GetAPPKeys', { apiKey: acme.apiSecret, appKey: zorkianApp.hash! })).ok, false);
    });
  });
}
