/**
 * Compatibility: the official, unmodified `@datadog/datadog-api-client` drives a live rekey
 * server (127.0.0.1, port 0) — validate; create, list (every paging, sort and filter
 * option), get, rename and delete API keys; list, create, rename and delete application
 * keys; and the error paths surface as the client's ApiException with the right code.
 * On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { v1, v2 } from '@datadog/datadog-api-client';
import { generateKey } from '../../src/keys/key-format.js';
import type { Role } from '../../src/store/store.js';
import { DIALECTS } from '../support/dialects.js';
import { clientConfiguration, expectApiException, startLiveServer, type LiveServer } from './live-server.js';
import type { SeededOrg } from './seed.js';

const LAST_KEY_MESSAGE = "It isn't possible to have zero API keys. Create a new API key before revoking this one.";

for (const dialect of DIALECTS) {
  describe(`official Datadog client against a live rekey server on ${dialect.name}`, () => {
    let live: LiveServer;
    let acme: SeededOrg;
    let globex: SeededOrg;

    const configure = (apiKey: string, appKey?: string) => clientConfiguration(live.baseUrl, apiKey, appKey);
    const keysApi = (org: SeededOrg, role: Role) => new v2.KeyManagementApi(configure(org.apiSecret, org.users[role].appSecret));

    before(async () => {
      live = await startLiveServer(() => dialect.createStore(), ['Acme', 'Globex']);
      [acme, globex] = live.orgs as [SeededOrg, SeededOrg];
    });
    after(() => live?.close());

    it('validate: valid for a good API key, 403 ApiException for a bad one', async () => {
      const ok = await new v1.AuthenticationApi(configure(acme.apiSecret)).validate();
      assert.equal(ok.valid, true);
      await expectApiException(new v1.AuthenticationApi(configure(generateKey('api'))).validate(), 403);
    });

    it('API keys: create, get, rename, list with every paging/sort/filter/include option, delete', async () => {
      const api = keysApi(acme, 'admin');
      const names = ['bravo', 'alpha', 'delta', 'charlie', 'echo'];
      const created: v2.APIKeyResponse[] = [];
      for (const name of names) {
        const response = await api.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: `ci ${name}` } } } });
        created.push(response);
        await sleep(15); // distinct created_at for the date filters
      }
      const first = created[0]!.data!;
      assert.equal(first.type, 'api_keys');
      assert.match(first.attributes!.key!, /^[0-9a-f]{32}$/);
      assert.equal(first.attributes!.last4, first.attributes!.key!.slice(-4));
      assert.equal(first.attributes!.name, 'ci bravo');
      assert.ok(first.attributes!.createdAt instanceof Date);
      assert.equal(first.relationships!.createdBy!.data!.id, acme.users.admin.user.id);
      // The new key works at once.
      assert.equal((await new v1.AuthenticationApi(configure(first.attributes!.key!)).validate()).valid, true);

      const got = await api.getAPIKey({ apiKeyId: first.id!, include: 'created_by' });
      assert.equal(got.data!.attributes!.name, 'ci bravo');
      assert.equal(got.data!.attributes!.key, undefined, 'the key is shown only once');
      assert.equal((got.included![0] as v2.User).id, acme.users.admin.user.id);

      const renamed = await api.updateAPIKey({
        apiKeyId: first.id!,
        body: { data: { type: 'api_keys', id: first.id!, attributes: { name: 'ci bravo renamed' } } },
      });
      assert.equal(renamed.data!.attributes!.name, 'ci bravo renamed');
      assert.equal(renamed.data!.relationships!.modifiedBy!.data!.id, acme.users.admin.user.id);

      // filter (name substring) + paging + total_filtered_count
      const page0 = await api.listAPIKeys({ filter: 'ci ', pageSize: 2, pageNumber: 0, sort: 'name' });
      assert.equal(page0.meta!.page!.totalFilteredCount, 5);
      assert.deepEqual(
        page0.data!.map((k) => k.attributes!.name),
        ['ci alpha', 'ci bravo renamed'],
      );
      const page2 = await api.listAPIKeys({ filter: 'ci ', pageSize: 2, pageNumber: 2, sort: 'name' });
      assert.deepEqual(
        page2.data!.map((k) => k.attributes!.name),
        ['ci echo'],
      );
      // every sort field, both directions
      for (const field of ['name', 'created_at', 'modified_at', 'last4'] as const) {
        const asc = await api.listAPIKeys({ filter: 'ci ', pageSize: 100, sort: field });
        const desc = await api.listAPIKeys({ filter: 'ci ', pageSize: 100, sort: `-${field}` });
        const value = (k: v2.PartialAPIKey) => {
          const a = k.attributes!;
          // ISO strings sort lexicographically in time order, to the millisecond.
          return field === 'name' ? a.name! : field === 'last4' ? a.last4! : field === 'created_at' ? a.createdAt! : a.modifiedAt!;
        };
        const ascValues = asc.data!.map(value);
        assert.deepEqual(ascValues, [...ascValues].sort(), `sort=${field}`);
        assert.deepEqual(desc.data!.map(value), [...ascValues].reverse(), `sort=-${field}`);
      }
      // filter by last4
      const byLast4 = await api.listAPIKeys({ filter: created[2]!.data!.attributes!.last4! });
      assert.ok(byLast4.data!.some((k) => k.id === created[2]!.data!.id));
      // created_at window: from the third key on
      const third = created[2]!.data!.attributes!.createdAt!.toISOString();
      const fromThird = await api.listAPIKeys({ filter: 'ci ', pageSize: 100, filterCreatedAtStart: third, sort: 'created_at' });
      assert.deepEqual(
        fromThird.data!.map((k) => k.id),
        created.slice(2).map((c) => c.data!.id),
      );
      const untilThird = await api.listAPIKeys({ filter: 'ci ', pageSize: 100, filterCreatedAtEnd: third, sort: 'created_at' });
      assert.deepEqual(
        untilThird.data!.map((k) => k.id),
        created.slice(0, 3).map((c) => c.data!.id),
      );
      // modified_at window: only the renamed key was modified after the last creation
      const lastCreated = created[4]!.data!.attributes!.modifiedAt!;
      const renamedModified = renamed.data!.attributes!.modifiedAt!;
      const modifiedAfter = await api.listAPIKeys({ filter: 'ci ', pageSize: 100, filterModifiedAtStart: new Date(lastCreated.getTime() + 1).toISOString() });
      assert.deepEqual(
        modifiedAfter.data!.map((k) => k.id),
        [first.id],
      );
      const modifiedBefore = await api.listAPIKeys({
        filter: 'ci ',
        pageSize: 100,
        filterModifiedAtEnd: new Date(renamedModified.getTime() - 1).toISOString(),
      });
      assert.equal(modifiedBefore.data!.length, 4);
      // include
      const withUsers = await api.listAPIKeys({ filter: 'ci ', include: 'created_by,modified_by' });
      assert.deepEqual(
        withUsers.included!.map((u) => (u as v2.User).id),
        [acme.users.admin.user.id],
      );

      for (const response of created) await api.deleteAPIKey({ apiKeyId: response.data!.id! });
      const afterDelete = await api.listAPIKeys({ filter: 'ci ' });
      assert.equal(afterDelete.meta!.page!.totalFilteredCount, 0);
      await expectApiException(new v1.AuthenticationApi(configure(first.attributes!.key!)).validate(), 403);
    });

    it('application keys: create, list, get, rename and delete (current user and organisation)', async () => {
      const api = keysApi(acme, 'standard');
      const created = await api.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'ci app key' } } } });
      const id = created.data!.id!;
      assert.match(created.data!.attributes!.key!, /^[0-9a-f]{40}$/);
      assert.equal(created.data!.relationships!.ownedBy!.data!.id, acme.users.standard.user.id);

      const mine = await api.listCurrentUserApplicationKeys({ pageSize: 100, sort: '-name' });
      assert.ok(mine.data!.some((k) => k.id === id));
      assert.ok(mine.data!.every((k) => k.relationships!.ownedBy!.data!.id === acme.users.standard.user.id));
      const org = await keysApi(acme, 'admin').listApplicationKeys({ pageSize: 2, pageNumber: 0, sort: 'name', include: 'owned_by' });
      assert.equal(org.data!.length, 2);
      assert.equal(org.meta!.page!.totalFilteredCount, 4);
      const filtered = await api.listApplicationKeys({ filter: 'ci app' });
      assert.deepEqual(
        filtered.data!.map((k) => k.id),
        [id],
      );
      const byOwner = await api.listApplicationKeys({ filterOwnedBy: acme.users.read_only.user.email!, pageSize: 100 });
      assert.deepEqual(
        byOwner.data!.map((k) => k.id),
        [acme.users.read_only.appKey.id],
      );

      const got = await api.getApplicationKey({ appKeyId: id });
      assert.equal(got.data!.attributes!.name, 'ci app key');
      assert.equal(got.data!.attributes!.key, undefined);
      const gotMine = await api.getCurrentUserApplicationKey({ appKeyId: id });
      assert.equal(gotMine.data!.id, id);

      const renamed = await api.updateApplicationKey({ appKeyId: id, body: { data: { type: 'application_keys', id, attributes: { name: 'ci app key 2' } } } });
      assert.equal(renamed.data!.attributes!.name, 'ci app key 2');
      const renamedAgain = await api.updateCurrentUserApplicationKey({
        appKeyId: id,
        body: { data: { type: 'application_keys', id, attributes: { name: 'ci app key 3' } } },
      });
      assert.equal(renamedAgain.data!.attributes!.name, 'ci app key 3');

      await api.deleteCurrentUserApplicationKey({ appKeyId: id });
      await expectApiException(api.getApplicationKey({ appKeyId: id }), 404);
      const second = await api.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'ci app key b' } } } });
      await keysApi(acme, 'admin').deleteApplicationKey({ appKeyId: second.data!.id! });
      await expectApiException(api.getCurrentUserApplicationKey({ appKeyId: second.data!.id! }), 404);
    });

    it('error paths surface as ApiException: 404, 400 on the last key, 403 on a bad key, 403 for read_only writes', async () => {
      const admin = keysApi(acme, 'admin');
      await expectApiException(admin.getAPIKey({ apiKeyId: randomUUID() }), 404);
      await expectApiException(admin.getAPIKey({ apiKeyId: globex.apiKey.id }), 404);
      await expectApiException(admin.deleteAPIKey({ apiKeyId: globex.apiKey.id }), 404);
      await expectApiException(admin.getApplicationKey({ appKeyId: globex.users.admin.appKey.id }), 404);

      const body = await expectApiException(keysApi(globex, 'admin').deleteAPIKey({ apiKeyId: globex.apiKey.id }), 400);
      assert.match(body, new RegExp(LAST_KEY_MESSAGE.replace(/[.']/g, '.')));

      const badKey = new v2.KeyManagementApi(configure(generateKey('api'), acme.users.admin.appSecret));
      await expectApiException(badKey.listAPIKeys({}), 403);
      const badAppKey = new v2.KeyManagementApi(configure(acme.apiSecret, generateKey('app')));
      await expectApiException(badAppKey.listAPIKeys({}), 403);

      const readOnly = keysApi(acme, 'read_only');
      assert.ok((await readOnly.listAPIKeys({})).data!.length >= 1, 'read_only may read');
      await expectApiException(readOnly.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'nope' } } } }), 403);
      await expectApiException(
        readOnly.updateAPIKey({ apiKeyId: acme.apiKey.id, body: { data: { type: 'api_keys', id: acme.apiKey.id, attributes: { name: 'nope' } } } }),
        403,
      );
      await expectApiException(readOnly.deleteAPIKey({ apiKeyId: acme.apiKey.id }), 403);
      await expectApiException(readOnly.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'nope' } } } }), 403);
    });
  });
}
