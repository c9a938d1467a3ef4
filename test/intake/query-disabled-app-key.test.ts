/**
 * The intake plugin's own management auth (used when it runs without the server's, as in the
 * intake's tests and benches) refuses an application key disabled with its owner: a password
 * reset (or a disable) stops `/api/v1/query` for that key, like the management API.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { SQLITE, CLI_ACTOR } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';

let fx: IntakeFixture;
before(async () => (fx = await createIntakeFixture(SQLITE)));
after(() => fx?.close());

it("refuses /api/v1/query with an application key disabled by its owner's password reset", async () => {
  const now = Math.floor(Date.now() / 1000);
  const query = () =>
    fx.app.inject({
      method: 'GET',
      url: `/api/v1/query?from=${now - 60}&to=${now}&query=${encodeURIComponent('avg:anything{*}')}`,
      headers: { 'dd-api-key': fx.apiKey, 'dd-application-key': fx.appKey },
    });
  assert.equal((await query()).statusCode, 200);
  const [admin] = await fx.store.listUsers(fx.orgId);
  await fx.store.setUserPassword(fx.orgId, admin!.id, 'scrypt$reset', 'reset', CLI_ACTOR);
  const refused = await query();
  assert.equal(refused.statusCode, 403);
  assert.deepEqual(refused.json(), { errors: ['Forbidden'] });
  await fx.store.setUserDisabled(fx.orgId, admin!.id, false, CLI_ACTOR, { enableAppKeys: true });
  assert.equal((await query()).statusCode, 200);
});
