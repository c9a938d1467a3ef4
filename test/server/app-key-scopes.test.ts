/**
 * Issue 15 row 4: application-key scopes are enforced, per route, with Datadog's scope names —
 * driven by the official, unmodified `@datadog/datadog-api-client` against a live rekey
 * server (127.0.0.1, port 0, SQLite). Keys are made through the API itself, as a user would.
 * - a key scoped `api_keys_read` reads API keys, but cannot create or revoke one, read the
 *   audit trail, list the organisation's application keys, hosts or metrics (before: it
 *   created an API key and read the audit log);
 * - unknown scope names are refused with 400 on create and on update;
 * - an unscoped key (scopes null) keeps its owner's full role; scopes never add to a role;
 * - a scoped key cannot mint or widen a key beyond its own scopes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v1, v2 } from '@datadog/datadog-api-client';
import { DatadogClient } from '../../src/rotate/datadog-client.js';
import { SQLITE } from '../support/dialects.js';
import { clientConfiguration, expectApiException, startLiveServer, type LiveServer } from './live-server.js';
import type { SeededOrg } from './seed.js';

describe('application-key scopes through the official Datadog client (issue 15 row 4)', () => {
  let live: LiveServer;
  let baseUrl: string;
  let acme: SeededOrg;

  const configure = (appKey: string) => clientConfiguration(baseUrl, acme.apiSecret, appKey);
  const keys = (appKey: string) => new v2.KeyManagementApi(configure(appKey));

  /** A new application key of the owner of `makerKey`, made through the API with `scopes`. */
  async function scopedKey(makerKey: string, scopes: string[] | null): Promise<string> {
    const created = await keys(makerKey).createCurrentUserApplicationKey({
      body: { data: { type: 'application_keys', attributes: { name: `scoped ${JSON.stringify(scopes)}`, ...(scopes === null ? {} : { scopes }) } } },
    });
    assert.deepEqual(created.data?.attributes?.scopes ?? null, scopes);
    const secret = created.data?.attributes?.key;
    assert.ok(secret !== undefined);
    return secret;
  }

  before(async () => {
    live = await startLiveServer(() => SQLITE.createStore(), ['Acme']);
    baseUrl = live.baseUrl;
    acme = live.orgs[0]!;
  });
  after(() => live?.close());

  it('an admin key scoped api_keys_read reads API keys and nothing else', async () => {
    const reader = await scopedKey(acme.users.admin.appSecret, ['api_keys_read']);
    const listed = await keys(reader).listAPIKeys({});
    assert.ok((listed.data ?? []).length >= 1);
    const someId = listed.data![0]!.id!;
    assert.equal((await keys(reader).getAPIKey({ apiKeyId: someId })).data?.id, someId);

    const body = await expectApiException(keys(reader).createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'not allowed' } } } }), 403);
    assert.match(body, /creating an API key needs an application key with the api_keys_write scope/);
    await expectApiException(keys(reader).deleteAPIKey({ apiKeyId: someId }), 403);
    await expectApiException(
      keys(reader).updateAPIKey({ apiKeyId: someId, body: { data: { type: 'api_keys', id: someId, attributes: { name: 'renamed' } } } }),
      403,
    );
    await expectApiException(new v2.AuditApi(configure(reader)).listAuditLogs({}), 403);
    await expectApiException(keys(reader).listApplicationKeys({}), 403);
    await expectApiException(keys(reader).listCurrentUserApplicationKeys({}), 403);
    await expectApiException(new v1.HostsApi(configure(reader)).listHosts({}), 403);
    const now = Math.floor(Date.now() / 1000);
    await expectApiException(new v1.MetricsApi(configure(reader)).queryMetrics({ from: now - 60, to: now, query: 'avg:system.load.1{*}' }), 403);
    // Nothing was created by the refused call.
    const after = await keys(acme.users.admin.appSecret).listAPIKeys({ filter: 'not allowed' });
    assert.equal((after.data ?? []).length, 0);
  });

  it('each scope opens exactly its routes: api_keys_write creates, audit_logs_read reads the trail, hosts_read and timeseries_query the reads', async () => {
    const writer = await scopedKey(acme.users.admin.appSecret, ['api_keys_write']);
    const created = await keys(writer).createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'by a writer key' } } } });
    assert.ok(created.data?.id);
    await expectApiException(keys(writer).deleteAPIKey({ apiKeyId: created.data!.id! }), 403);
    const deleter = await scopedKey(acme.users.admin.appSecret, ['api_keys_delete']);
    await keys(deleter).deleteAPIKey({ apiKeyId: created.data!.id! });

    const auditor = await scopedKey(acme.users.admin.appSecret, ['audit_logs_read']);
    const events = await new v2.AuditApi(configure(auditor)).listAuditLogs({});
    assert.ok((events.data ?? []).length > 0);
    await expectApiException(keys(auditor).listAPIKeys({}), 403);

    const reads = await scopedKey(acme.users.admin.appSecret, ['hosts_read', 'timeseries_query', 'org_app_keys_read']);
    await new v1.HostsApi(configure(reads)).listHosts({});
    const now = Math.floor(Date.now() / 1000);
    await new v1.MetricsApi(configure(reads)).queryMetrics({ from: now - 60, to: now, query: 'avg:system.load.1{*}' });
    assert.ok(((await keys(reads).listApplicationKeys({})).data ?? []).length > 0);
  });

  it("an unscoped key (scopes null) has its owner's whole role; scopes never add to a role", async () => {
    const unscoped = await scopedKey(acme.users.admin.appSecret, null);
    const created = await keys(unscoped).createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'by an unscoped key' } } } });
    assert.ok(created.data?.id);
    await new v2.AuditApi(configure(unscoped)).listAuditLogs({});
    // A standard user's key scoped api_keys_write still may not write API keys (role first).
    const standard = await scopedKey(acme.users.standard.appSecret, ['api_keys_write', 'user_app_keys']);
    const body = await expectApiException(keys(standard).createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'no' } } } }), 403);
    assert.match(body, /needs the admin role/);
  });

  it('unknown scope names: 400 on create and on update, nothing stored', async () => {
    const admin = keys(acme.users.admin.appSecret);
    const body = await expectApiException(
      admin.createCurrentUserApplicationKey({
        body: { data: { type: 'application_keys', attributes: { name: 'typo', scopes: ['api_keys_read', 'api_key_write'] } } },
      }),
      400,
    );
    assert.match(body, /Unknown application key scope .{0,2}api_key_write/);
    const mine = await admin.listCurrentUserApplicationKeys({ filter: 'typo' });
    assert.equal((mine.data ?? []).length, 0);

    const id = acme.users.admin.appKey.id;
    await expectApiException(
      admin.updateCurrentUserApplicationKey({ appKeyId: id, body: { data: { type: 'application_keys', id, attributes: { scopes: ['everything'] } } } }),
      400,
    );
    await expectApiException(
      admin.updateApplicationKey({ appKeyId: id, body: { data: { type: 'application_keys', id, attributes: { scopes: ['admin'] } } } }),
      400,
    );
    assert.equal((await admin.getCurrentUserApplicationKey({ appKeyId: id })).data?.attributes?.scopes ?? null, null, 'still unscoped');
  });

  it('a scoped key cannot mint or widen a key beyond its own scopes', async () => {
    const own = await scopedKey(acme.users.admin.appSecret, ['user_app_keys', 'api_keys_read']);
    // Within its scopes: allowed.
    const narrower = await scopedKey(own, ['api_keys_read']);
    assert.equal(narrower.length, 40);
    // An unscoped key (the owner's whole admin role) or a wider one: refused.
    const ownKeys = keys(own);
    await expectApiException(ownKeys.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'wider' } } } }), 403);
    await expectApiException(
      ownKeys.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'wider', scopes: ['api_keys_write'] } } } }),
      403,
    );
    // Nor can it lift its own scopes.
    const listed = await ownKeys.listCurrentUserApplicationKeys({});
    const self = (listed.data ?? []).find((k) => k.attributes?.name === 'scoped ["user_app_keys","api_keys_read"]');
    assert.ok(self?.id);
    // (scopes: null is sent as JSON directly: the client's types have no null for it.)
    const lift = await fetch(`${baseUrl}/api/v2/current_user/application_keys/${self.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'dd-api-key': acme.apiSecret, 'dd-application-key': own },
      body: JSON.stringify({ data: { type: 'application_keys', id: self.id, attributes: { scopes: null } } }),
    });
    assert.equal(lift.status, 403);
    assert.deepEqual((await ownKeys.getCurrentUserApplicationKey({ appKeyId: self.id })).data?.attributes?.scopes, ['user_app_keys', 'api_keys_read']);
    // Renaming itself is fine.
    await ownKeys.updateCurrentUserApplicationKey({
      appKeyId: self.id,
      body: { data: { type: 'application_keys', id: self.id, attributes: { name: 'renamed scoped key' } } },
    });
  });

  it('rekey rotate works with a key scoped api_keys_read, api_keys_write, api_keys_delete, hosts_read (docs/rotation.md)', async () => {
    const rotation = await scopedKey(acme.users.admin.appSecret, ['api_keys_read', 'api_keys_write', 'api_keys_delete', 'hosts_read']);
    const dd = new DatadogClient({ url: baseUrl, apiKey: acme.apiSecret, appKey: rotation });
    assert.ok((await dd.listApiKeys()).length >= 1);
    const made = await dd.createApiKey('rotation scoped');
    assert.deepEqual(await dd.keyHosts(made.id), []);
    await dd.v1Hosts();
    const rolled = await dd.rollApiKey(made.id, 'rotation scoped rolled', 60);
    assert.ok(rolled?.id);
    await dd.revokeApiKey(rolled.id);
    // Without api_keys_delete the revoke step is refused, and says which scope it needs.
    const noDelete = await scopedKey(acme.users.admin.appSecret, ['api_keys_read', 'api_keys_write', 'hosts_read']);
    const partial = new DatadogClient({ url: baseUrl, apiKey: acme.apiSecret, appKey: noDelete });
    await assert.rejects(partial.revokeApiKey(made.id), /api_keys_delete/);
  });
});
