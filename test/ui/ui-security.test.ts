/**
 * The web UI's security properties, through real HTTP requests (inject) against the UI
 * plugin on a real store, SQLite and PostgreSQL: escaping, CSRF, roles, tenant isolation, cookie flags,
 * CSP, sign-in throttling and session expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { CONTENT_SECURITY_POLICY } from '../../src/ui/ui-plugin.js';
import { CLI_ACTOR, DIALECTS } from '../support/dialects.js';
import { cookieHeader, cookiesOf, createDeployment, createUser, csrfOf, form, hiddenField, signIn, uiApp, type UiDeployment } from './ui-harness.js';

for (const dialect of DIALECTS) {
  describe(`web UI security on ${dialect.name}`, () => {
    let d: UiDeployment;
    let app: FastifyInstance;
    before(async () => {
      d = await createDeployment('acme', dialect);
      app = await uiApp(d);
    });
    after(async () => {
      await app.close();
      await d.destroy();
    });

    it('renders a key named <script>alert(1)</script> as text', async () => {
      const admin = await signIn(app, d.users.admin);
      const created = await admin.post('/keys', { name: '<script>alert(1)</script>', form_id: 'xss-1' });
      assert.equal(created.statusCode, 201);
      for (const body of [created.body, (await admin.get('/keys')).body]) {
        assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the name appears escaped');
        assert.ok(!body.includes('<script>alert(1)</script>'), 'the name never appears as markup');
      }
      const key = (await d.store.listApiKeys(d.org.id, { filter: 'alert' })).items[0]!;
      const keyPage = await admin.get(`/keys/${key.id}`);
      assert.equal(keyPage.statusCode, 200);
      assert.ok(keyPage.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
      assert.ok(!keyPage.body.includes('<script>alert(1)</script>'));
    });

    it('escapes a host name inside the chart data block', async () => {
      const admin = await signIn(app, d.users.admin);
      const now = new Date();
      await d.store.recordKeyUsage([
        { keyId: d.firstKey.id, host: '</script><script>alert(2)</script>', firstSeen: now, lastSeen: now, points: 3, agentVersion: '<b>7</b>' },
      ]);
      const page = await admin.get(`/keys/${d.firstKey.id}`);
      assert.equal(page.statusCode, 200);
      assert.ok(!page.body.includes('<script>alert(2)'), 'no markup from a host name');
      assert.ok(!page.body.includes('<b>7</b>'));
      assert.ok(page.body.includes('&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;'));
    });

    it('refuses a POST without the CSRF token (403) and with a wrong one, changing nothing', async () => {
      const admin = await signIn(app, d.users.admin);
      const before = (await d.store.listApiKeys(d.org.id)).totalFiltered;
      const missing = await admin.post('/keys', { name: 'csrf-missing', form_id: 'c1' }, { csrf: null });
      assert.equal(missing.statusCode, 403);
      assert.match(missing.body, /Reload the page/);
      const wrong = await admin.post('/keys', { name: 'csrf-wrong', form_id: 'c2' }, { csrf: 'x'.repeat(43) });
      assert.equal(wrong.statusCode, 403);
      const otherSession = await signIn(app, d.users.admin);
      const foreign = await admin.post('/keys', { name: 'csrf-foreign', form_id: 'c3' }, { csrf: otherSession.csrf });
      assert.equal(foreign.statusCode, 403, "another session's token is refused");
      const revoke = await admin.post(`/keys/${d.firstKey.id}/revoke`, {}, { csrf: null });
      assert.equal(revoke.statusCode, 403);
      assert.equal((await d.store.listApiKeys(d.org.id)).totalFiltered, before);
    });

    it('refuses the sign-in form without its CSRF token', async () => {
      const { payload, headers } = form({ email: d.users.admin.email, password: d.users.admin.password });
      const response = await app.inject({ method: 'POST', url: '/login', payload, headers });
      assert.equal(response.statusCode, 403);
      assert.equal(cookiesOf(response).rekey_session, undefined);
    });

    it("answers a read_only user's POSTs with 403 and shows them no write controls", async () => {
      const ro = await signIn(app, d.users.read_only);
      const keysPage = await ro.get('/keys');
      assert.equal(keysPage.statusCode, 200);
      for (const control of ['action="/keys"', '/revoke', '/roll', '/restore', '/rename']) assert.ok(!keysPage.body.includes(control), `no ${control} control`);
      const appKeysPage = await ro.get('/app-keys');
      assert.ok(!appKeysPage.body.includes('action="/app-keys"'));
      const before = (await d.store.listApiKeys(d.org.id)).totalFiltered;
      for (const [url, fields] of [
        ['/keys', { name: 'ro', form_id: 'ro-1' }],
        [`/keys/${d.firstKey.id}/rename`, { name: 'ro' }],
        [`/keys/${d.firstKey.id}/revoke`, {}],
        [`/keys/${d.firstKey.id}/roll`, { grace_seconds: '0', form_id: 'ro-2' }],
        ['/app-keys', { name: 'ro', form_id: 'ro-3' }],
        ['/users', { email: 'x@y.z', name: 'x', role: 'admin', form_id: 'ro-4' }],
      ] as const) {
        const response = await ro.post(url, fields);
        assert.equal(response.statusCode, 403, `${url} is refused`);
      }
      assert.equal((await d.store.listApiKeys(d.org.id)).totalFiltered, before);
      assert.equal((await d.store.getApiKey(d.org.id, d.firstKey.id))!.name, d.firstKey.name);
    });

    it('lets a standard user see API keys but not manage them, nor see users', async () => {
      const std = await signIn(app, d.users.standard);
      assert.ok(!(await std.get('/keys')).body.includes('action="/keys"'));
      assert.equal((await std.post('/keys', { name: 'std', form_id: 'std-1' })).statusCode, 403);
      assert.equal((await std.get('/users')).statusCode, 403);
      const ownKey = await std.post('/app-keys', { name: 'mine', form_id: 'std-2' });
      assert.equal(ownKey.statusCode, 201, 'a standard user manages their own application keys');
    });

    it("answers another organisation's key page with 404", async () => {
      const other = await d.store.createOrg(`other-${Date.now()}`, CLI_ACTOR);
      const secret = generateKey('api');
      const foreign = await d.store.createApiKey(other.id, { name: 'foreign', hash: d.hasher.hash(secret), last4: last4(secret) }, CLI_ACTOR);
      const admin = await signIn(app, d.users.admin);
      for (const url of [`/keys/${foreign.id}`, `/keys/${foreign.id}/revoke`, `/keys/${foreign.id}/roll`]) {
        assert.equal((await admin.get(url)).statusCode, 404, url);
      }
      assert.equal((await admin.post(`/keys/${foreign.id}/revoke`, {})).statusCode, 404);
      assert.equal((await d.store.getApiKey(other.id, foreign.id))!.status, 'active');
      assert.equal((await admin.get('/keys/not-a-uuid')).statusCode, 404);
    });

    it('sets the session cookie HttpOnly and SameSite=Strict, and a strict CSP on every page', async () => {
      const loginForm = await app.inject({ method: 'GET', url: '/login' });
      const { payload, headers } = form({ _csrf: csrfOf(loginForm.body), email: d.users.admin.email, password: d.users.admin.password });
      const response = await app.inject({ method: 'POST', url: '/login', payload, headers: { ...headers, cookie: cookieHeader(cookiesOf(loginForm)) } });
      assert.equal(response.statusCode, 303);
      const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith('rekey_session='));
      assert.ok(setCookie, 'a session cookie is set');
      assert.match(setCookie, /; HttpOnly/i);
      assert.match(setCookie, /; SameSite=Strict/i);
      assert.match(setCookie, /; Path=\//);
      assert.equal(loginForm.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
      assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
      const admin = await signIn(app, d.users.admin);
      for (const url of ['/keys', `/keys/${d.firstKey.id}`, '/app-keys', '/hosts', '/audit', '/users']) {
        const page = await admin.get(url);
        assert.equal(page.statusCode, 200, url);
        assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY, url);
        assert.equal(page.headers['cache-control'], 'no-store', url);
        assert.doesNotMatch(page.body, /<script(?![^>]*\b(?:src=|type="application\/json"))[^>]*>/, `${url} has no inline script`);
        assert.doesNotMatch(page.body, /\sstyle=|\son[a-z]+=/i, `${url} has no inline style or handler`);
      }
    });

    it('after sign-in, follows only same-site `next` paths', async () => {
      for (const [next, expected] of [
        ['/hosts', '/hosts'],
        ['//evil.example/x', '/keys'],
        ['https://evil.example/', '/keys'],
        ['/\\evil.example', '/keys'],
      ] as const) {
        const loginForm = await app.inject({ method: 'GET', url: '/login' });
        const body = form({ _csrf: csrfOf(loginForm.body), email: d.users.admin.email, password: d.users.admin.password, next });
        const response = await app.inject({
          method: 'POST',
          url: '/login',
          payload: body.payload,
          headers: { ...body.headers, cookie: cookieHeader(cookiesOf(loginForm)) },
        });
        assert.equal(response.statusCode, 303);
        assert.equal(response.headers.location, expected, `next=${next}`);
      }
    });

    it('redirects to sign-in without a session, and ends the session on sign-out', async () => {
      const anonymous = await app.inject({ method: 'GET', url: '/keys' });
      assert.equal(anonymous.statusCode, 303);
      assert.equal(anonymous.headers.location, '/login?next=%2Fkeys');
      const anonymousPost = await app.inject({ method: 'POST', url: '/keys', ...form({ name: 'x' }) });
      assert.equal(anonymousPost.statusCode, 403);
      const admin = await signIn(app, d.users.admin);
      const out = await admin.post('/logout', {});
      assert.equal(out.statusCode, 303);
      assert.equal((await admin.get('/keys')).statusCode, 303, 'the old session id no longer works');
    });

    it('expires sessions after sessionTtlMs', async () => {
      let clock = Date.now();
      const shortApp = await uiApp(d, { sessionTtlMs: 1000, now: () => new Date(clock) });
      try {
        const admin = await signIn(shortApp, d.users.admin);
        assert.equal((await admin.get('/keys')).statusCode, 200);
        clock += 999;
        assert.equal((await admin.get('/keys')).statusCode, 200, 'still live 1 ms before its end');
        clock += 1;
        assert.equal((await admin.get('/keys')).statusCode, 303, 'the expired session sends the browser to sign in');
      } finally {
        await shortApp.close();
      }
    });

    it('throttles failed sign-ins per email and audits them', async () => {
      const victim = await createUser(d.store, d.org.id, 'standard', `victim-${Date.now()}@acme.test`);
      const throttled = await uiApp(d, { loginThrottle: { freeFailures: 3, maxFailuresPerIp: 100 } });
      try {
        const attempt = async (password: string) => {
          const loginForm = await throttled.inject({ method: 'GET', url: '/login' });
          const body = form({ _csrf: csrfOf(loginForm.body), email: victim.email, password });
          return throttled.inject({
            method: 'POST',
            url: '/login',
            payload: body.payload,
            headers: { ...body.headers, cookie: cookieHeader(cookiesOf(loginForm)) },
          });
        };
        for (let i = 0; i < 3; i++) assert.equal((await attempt('wrong')).statusCode, 401);
        const refused = await attempt(victim.password);
        assert.equal(refused.statusCode, 429, 'even the right password waits once the email is throttled');
        assert.ok(Number(refused.headers['retry-after']) > 0);
        const events = await d.store.listAuditEvents(d.org.id, { action: 'user.login_failed' });
        assert.ok(events.items.filter((e) => e.targetId === victim.user.id).length >= 3);
      } finally {
        await throttled.close();
      }
    });

    it('shows a new key once: a resent create form does not create or show another', async () => {
      const admin = await signIn(app, d.users.admin);
      const page = await admin.get('/keys');
      const formId = hiddenField(page.body, 'form_id');
      const first = await admin.post('/keys', { name: 'once', form_id: formId });
      assert.equal(first.statusCode, 201);
      const shown = /id="new-api-key" value="([0-9a-f]{32})"/.exec(first.body);
      assert.ok(shown, 'the key is in the response');
      const count = (await d.store.listApiKeys(d.org.id)).totalFiltered;
      const again = await admin.post('/keys', { name: 'once', form_id: formId });
      assert.equal(again.statusCode, 303);
      assert.equal((await d.store.listApiKeys(d.org.id)).totalFiltered, count);
      const next = await admin.get('/keys');
      assert.ok(!next.body.includes(shown[1]!), 'the key is never shown again');
      assert.match(next.body, /will not be shown again/);
    });
  });
}
