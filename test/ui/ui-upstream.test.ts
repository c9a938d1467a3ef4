/**
 * Issue 19, build 2: the Upstream page and the relay banner, through the real UI plugin on a real
 * (SQLite) store, with inject.
 * - /upstream is for admins only (read and write), as GET|PUT /api/v2/rekey/upstream are;
 * - an admin sets the upstream through the form: stored encrypted, shown as its last 4, never
 *   the key (not in the page, not in the form's value); a refused site is shown and changes nothing;
 * - admins see a banner on every page while this node's relay reports problems for their
 *   organisation (what /healthz reports as degraded); other roles and other organisations do not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { UpstreamKeyCipher } from '../../src/relay/upstream-crypto.js';
import { createDeployment, signIn, uiApp, type UiDeployment } from './ui-harness.js';

const UPSTREAM_KEY = 'dd0123456789abcdef0123456789ui42';

describe('web UI: the Upstream page and the relay banner (issue 19)', () => {
  let d: UiDeployment;
  let app: FastifyInstance;
  const problems = new Map<string, string[]>();
  before(async () => {
    d = await createDeployment('upstream');
    app = await uiApp(d, { relayProblems: (orgId) => problems.get(orgId) ?? [] });
  });
  after(async () => {
    await app.close();
    await d.destroy();
  });

  it('/upstream is for admins only; others get 403 and no link', async () => {
    for (const role of ['standard', 'read_only'] as const) {
      const viewer = await signIn(app, d.users[role]);
      assert.equal((await viewer.get('/upstream')).statusCode, 403, role);
      assert.equal((await viewer.post('/upstream', { mode: 'relay', site: 'https://attacker.example', api_key: 'attackerkey000' })).statusCode, 403, role);
      assert.doesNotMatch((await viewer.get('/keys')).body, /href="\/upstream"/, `${role} gets no link`);
    }
    assert.equal(await d.store.getUpstream(d.org.id), undefined, 'nothing was stored');
    const admin = await signIn(app, d.users.admin);
    assert.match((await admin.get('/keys')).body, /href="\/upstream"/);
    const empty = await admin.get('/upstream');
    assert.equal(empty.statusCode, 200);
    assert.match(empty.body, /id="upstream-none"/);
  });

  it('an admin sets the upstream: shown as its last 4, never the key; a refused site changes nothing', async () => {
    const admin = await signIn(app, d.users.admin);
    const refused = await admin.post('/upstream', { mode: 'relay', site: 'datadoghq.con', api_key: UPSTREAM_KEY });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /is not a Datadog site/);
    assert.doesNotMatch(refused.body, new RegExp(UPSTREAM_KEY), 'the key is not filled back');
    assert.equal(await d.store.getUpstream(d.org.id), undefined);

    const saved = await admin.post('/upstream', { mode: 'relay', site: 'datadoghq.eu', api_key: UPSTREAM_KEY });
    assert.equal(saved.statusCode, 303, saved.body);
    const shown = await admin.get('/upstream');
    assert.match(shown.body, /…ui42/);
    assert.match(shown.body, /https:\/\/api\.datadoghq\.eu/);
    assert.match(shown.body, /name="api_key" type="password"/);
    assert.doesNotMatch(shown.body, new RegExp(UPSTREAM_KEY));
    const stored = await d.store.getUpstream(d.org.id);
    assert.ok(stored !== undefined);
    assert.equal(stored.apiKeyLast4, 'ui42');
    assert.equal(new UpstreamKeyCipher(await d.store.deploymentSecret()).decrypt(d.org.id, stored.encryptedApiKey), UPSTREAM_KEY);
    const audit = await d.store.listAuditEvents(d.org.id, { action: 'upstream.set', page: { size: 10, number: 0 } });
    assert.equal(audit.items[0]?.actorId, d.users.admin.user.id);

    // An empty key field keeps the stored key.
    assert.equal((await admin.post('/upstream', { mode: 'standalone', site: 'https://vector.example:8282', api_key: '' })).statusCode, 303);
    const kept = await d.store.getUpstream(d.org.id);
    assert.equal(kept?.mode, 'standalone');
    assert.equal(kept?.site, 'https://vector.example:8282');
    assert.equal(kept?.encryptedApiKey, stored.encryptedApiKey);
  });

  it('admins see the relay banner on every page while the relay reports problems for their organisation', async () => {
    const admin = await signIn(app, d.users.admin);
    const standard = await signIn(app, d.users.standard);
    assert.doesNotMatch((await admin.get('/keys')).body, /id="relay-banner"/, 'no banner while all is well');
    problems.set('some-other-org', ['relay: organization some-other-org: the upstream refuses the upstream API key (…xxxx, answer 403)']);
    assert.doesNotMatch((await admin.get('/keys')).body, /id="relay-banner"/, "another organisation's problem is not shown");
    problems.set(d.org.id, [
      `relay: organization ${d.org.id}: the upstream refuses the upstream API key (…ui42, answer 403); set a working one with rekey upstream set`,
    ]);
    for (const path of ['/keys', '/hosts', '/app-keys', '/upstream', '/audit', '/users', '/keys/00000000-0000-4000-8000-000000000000']) {
      const body = (await admin.get(path)).body;
      assert.match(body, /id="relay-banner"/, path);
      assert.match(body, /refuses the upstream API key \(…ui42, answer 403\)/, path);
    }
    assert.doesNotMatch((await standard.get('/keys')).body, /id="relay-banner"/, 'only admins, who can act on it, see the banner');
    problems.delete(d.org.id);
    assert.doesNotMatch((await admin.get('/keys')).body, /id="relay-banner"/, 'gone once delivery flows');
  });
});
