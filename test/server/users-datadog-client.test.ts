/**
 * Compatibility of the users routes with the official, unmodified `@datadog/datadog-api-client`
 * (`v2.UsersApi`) against a live rekey server (127.0.0.1, port 0, SQLite): list, get, update
 * `disabled` both ways (a disabled user's application key is then refused), the last-admin
 * refusal as an ApiException 400, and `disableUser` — Datadog's DELETE, which in rekey deletes
 * the user (rekey disables with `updateUser`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { client, v2 } from '@datadog/datadog-api-client';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import type { Role } from '../../src/store/store.js';
import { SQLITE, type TestStore } from '../support/dialects.js';
import { seedOrg, type SeededOrg } from './seed.js';

let db: TestStore;
let app: FastifyInstance;
let acme: SeededOrg;
let baseUrl: string;

function usersApi(role: Role): v2.UsersApi {
  return new v2.UsersApi(
    client.createConfiguration({
      authMethods: { apiKeyAuth: acme.apiSecret, appKeyAuth: acme.users[role].appSecret },
      baseServer: new client.BaseServerConfiguration(baseUrl, {}),
    }),
  );
}

async function apiException(promise: Promise<unknown>): Promise<{ code: number; body: unknown }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof client.ApiException, `expected ApiException, got ${String(error)}`);
    return { code: error.code, body: error.body };
  }
  assert.fail('expected an ApiException, the call succeeded');
}

before(async () => {
  db = await SQLITE.createStore();
  const hasher = createKeyHasher(randomBytes(32));
  acme = await seedOrg(db.store, hasher, 'Acme');
  app = await buildApp({ store: db.store, hasher, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  baseUrl = `http://127.0.0.1:${address.port}`;
});
after(async () => {
  await app?.close();
  await db?.destroy();
});

it('UsersApi: list, get, updateUser disabled true/false, the last admin refused, disableUser deletes', async () => {
  const admin = usersApi('admin');
  const listed = await admin.listUsers();
  assert.deepEqual(listed.data?.map((u) => u.attributes?.email).sort(), Object.values(acme.users).map((u) => u.user.email).sort());
  const standardId = acme.users.standard.user.id;
  const got = await admin.getUser({ userId: standardId });
  assert.equal(got.data?.attributes?.disabled, false);
  assert.equal(got.data?.attributes?.status, 'Active');

  const disabled = await admin.updateUser({ userId: standardId, body: { data: { type: 'users', id: standardId, attributes: { disabled: true } } } });
  assert.equal(disabled.data?.attributes?.disabled, true);
  assert.equal((await apiException(usersApi('standard').listUsers())).code, 403, "the disabled user's key is refused");
  const enabled = await admin.updateUser({ userId: standardId, body: { data: { type: 'users', id: standardId, attributes: { disabled: false } } } });
  assert.equal(enabled.data?.attributes?.disabled, false);

  const adminId = acme.users.admin.user.id;
  const last = await apiException(admin.updateUser({ userId: adminId, body: { data: { type: 'users', id: adminId, attributes: { disabled: true } } } }));
  assert.equal(last.code, 400);
  assert.match(JSON.stringify(last.body), /last active admin/);
  assert.equal((await apiException(usersApi('read_only').getUser({ userId: adminId }))).code, 403);

  await admin.disableUser({ userId: acme.users.read_only.user.id });
  assert.equal((await apiException(admin.getUser({ userId: acme.users.read_only.user.id }))).code, 404, 'rekey deletes');
});
