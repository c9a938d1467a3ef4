/**
 * Compatibility of the users routes with the official, unmodified `@datadog/datadog-api-client`
 * (`v2.UsersApi`) against a live rekey server (127.0.0.1, port 0, SQLite): list, get, update
 * `disabled` both ways (a disabled user's application key is then refused), the last-admin
 * refusal as an ApiException 400, and `disableUser` — Datadog's DELETE, which in rekey deletes
 * the user (rekey disables with `updateUser`).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
// The v2 API only: the package's main entry also loads v1, which this file never calls.
import * as v2 from '@datadog/datadog-api-client/dist/packages/datadog-api-client-v2/index.js';
import type { Role } from '../../src/store/store.js';
import { SQLITE } from '../support/dialects.js';
import { clientConfiguration, expectApiException, startLiveServer, type LiveServer } from './live-server.js';
import type { SeededOrg } from './seed.js';

let live: LiveServer;
let acme: SeededOrg;

function usersApi(role: Role): v2.UsersApi {
  return new v2.UsersApi(clientConfiguration(live.baseUrl, acme.apiSecret, acme.users[role].appSecret));
}

before(async () => {
  live = await startLiveServer(() => SQLITE.createStore(), ['Acme']);
  acme = live.orgs[0]!;
});
after(() => live?.close());

it('UsersApi: list, get, updateUser disabled true/false, the last admin refused, disableUser deletes', async () => {
  const admin = usersApi('admin');
  const listed = await admin.listUsers();
  assert.deepEqual(
    listed.data?.map((u) => u.attributes?.email).sort(),
    Object.values(acme.users)
      .map((u) => u.user.email)
      .sort(),
  );
  const standardId = acme.users.standard.user.id;
  const got = await admin.getUser({ userId: standardId });
  assert.equal(got.data?.attributes?.disabled, false);
  assert.equal(got.data?.attributes?.status, 'Active');

  const disabled = await admin.updateUser({ userId: standardId, body: { data: { type: 'users', id: standardId, attributes: { disabled: true } } } });
  assert.equal(disabled.data?.attributes?.disabled, true);
  await expectApiException(usersApi('standard').listUsers(), 403); // the disabled user's key is refused
  const enabled = await admin.updateUser({ userId: standardId, body: { data: { type: 'users', id: standardId, attributes: { disabled: false } } } });
  assert.equal(enabled.data?.attributes?.disabled, false);

  const adminId = acme.users.admin.user.id;
  const last = await expectApiException(
    admin.updateUser({ userId: adminId, body: { data: { type: 'users', id: adminId, attributes: { disabled: true } } } }),
    400,
  );
  assert.match(last, /last active admin/);
  await expectApiException(usersApi('read_only').getUser({ userId: adminId }), 403);

  await admin.disableUser({ userId: acme.users.read_only.user.id });
  await expectApiException(admin.getUser({ userId: acme.users.read_only.user.id }), 404); // rekey deletes
});
