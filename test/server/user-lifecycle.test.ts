/**
 * User lifecycle (issue 15, row 14) over real HTTP against a listening server (`buildApp` on
 * 127.0.0.1, the management API and the web UI on one port), on SQLite and PostgreSQL:
 * disable/enable, delete, admin reset, own password change — through the API and through the
 * UI's forms — each ending the user's web sessions, stopping their application keys (kept,
 * disabled; not silently re-enabled with the user), audited, and never leaving the
 * organisation without an enabled admin. No password ever reaches a log line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { hashPassword } from '../../src/keys/password.js';
import { buildApp } from '../../src/server/app.js';
import { createServerLogger } from '../../src/server/logger.js';
import type { Role, Store } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';
import { logLinesSink } from '../support/log-lines.js';
import { listenLocal, setPasswords } from './live-server.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

interface Answer {
  status: number;
  body: any;
  location: string | null;
  text: string;
}

/** A browser's session: the cookie and the CSRF token of the signed-in pages. */
interface Browser {
  cookie: string;
  csrf: string;
}

function setCookies(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    out[pair!.slice(0, eq)] = pair!.slice(eq + 1);
  }
  return out;
}

for (const dialect of DIALECTS) {
  describe(`user lifecycle over HTTP on ${dialect.name}`, () => {
    let db: TestStore;
    let store: Store;
    let app: FastifyInstance;
    let base: string;
    let acme: SeededOrg;
    const passwords: Record<Role, string> = { admin: 'admin-password-1', standard: 'standard-password-1', read_only: 'read-only-password-1' };
    const logLines: string[] = [];
    /** Every password the suite used or was given, to search the log for. */
    const secrets: string[] = Object.values(passwords);

    before(async () => {
      db = await dialect.createStore();
      store = db.store;
      const hasher = createKeyHasher(await store.deploymentSecret());
      acme = await seedOrg(store, hasher, 'Acme');
      await setPasswords(store, acme, passwords);
      const stream = logLinesSink(logLines);
      app = await buildApp({ store, hasher, logger: createServerLogger({ level: 'debug', stream }), authThrottle: { maxFailures: 1000 } });
      base = await listenLocal(app);
    });

    after(async () => {
      await app?.close();
      await db?.destroy();
    });

    async function api(method: string, path: string, role: Role | null, body?: unknown, headers?: Record<string, string>): Promise<Answer> {
      const response = await fetch(base + path, {
        method,
        headers: { ...(role === null ? {} : headersFor(acme, role)), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
      });
      const text = await response.text();
      return {
        status: response.status,
        text,
        location: response.headers.get('location'),
        body: text !== '' && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined,
      };
    }

    /** Signs in through the real form; throws unless it answers 303 with a session. */
    async function signIn(email: string, password: string): Promise<Browser> {
      const form = await fetch(`${base}/login`, { redirect: 'manual' });
      const loginCookie = setCookies(form).rekey_login_csrf!;
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const response = await fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `rekey_login_csrf=${loginCookie}` },
        body: new URLSearchParams({ _csrf: csrf, email, password }).toString(),
      });
      if (response.status !== 303) throw Object.assign(new Error(`sign-in answered ${response.status}`), { status: response.status });
      const cookie = `rekey_session=${setCookies(response).rekey_session!}`;
      const keys = await fetch(`${base}/keys`, { headers: { cookie }, redirect: 'manual' });
      assert.equal(keys.status, 200);
      return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(await keys.text())![1]! };
    }

    async function signInStatus(email: string, password: string): Promise<number> {
      try {
        await signIn(email, password);
        return 303;
      } catch (error) {
        return (error as { status: number }).status;
      }
    }

    async function page(browser: Browser, path: string): Promise<Answer> {
      const response = await fetch(base + path, { headers: { cookie: browser.cookie }, redirect: 'manual' });
      return { status: response.status, text: await response.text(), location: response.headers.get('location'), body: undefined };
    }

    async function post(browser: Browser, path: string, fields: Record<string, string>): Promise<Answer> {
      const response = await fetch(base + path, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie },
        body: new URLSearchParams({ _csrf: browser.csrf, ...fields }).toString(),
      });
      return { status: response.status, text: await response.text(), location: response.headers.get('location'), body: undefined };
    }

    /** Is the browser's session still live? (A page answers 200; an ended session is sent to /login.) */
    async function live(browser: Browser): Promise<boolean> {
      const answer = await page(browser, '/keys');
      if (answer.status === 303) assert.match(answer.location ?? '', /^\/login/);
      return answer.status === 200;
    }

    const email = (role: Role) => acme.users[role].user.email;
    const id = (role: Role) => acme.users[role].user.id;
    async function actions(): Promise<string[]> {
      return (await store.listAuditEvents(acme.org.id)).items.map((e) => e.action);
    }

    it('PATCH disabled: sessions end, sign-in and the app key are refused; enabling leaves the key disabled', async () => {
      const browser = await signIn(email('standard'), passwords.standard);
      assert.equal((await api('GET', '/api/v2/api_keys', 'standard')).status, 200);
      assert.equal(await live(browser), true);

      const disabled = await api('PATCH', `/api/v2/users/${id('standard')}`, 'admin', {
        data: { type: 'users', id: id('standard'), attributes: { disabled: true } },
      });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.body.data.attributes.disabled, true);
      assert.equal(disabled.body.data.attributes.status, 'Disabled');
      assert.equal(await live(browser), false, 'the session ended at once');
      assert.equal(await signInStatus(email('standard'), passwords.standard), 401);
      const refused = await api('GET', '/api/v2/api_keys', 'standard');
      assert.deepEqual([refused.status, refused.body], [403, { errors: ['Forbidden'] }]);
      assert.ok((await actions()).includes('user.disable'));

      const enabled = await api('PATCH', `/api/v2/users/${id('standard')}`, 'admin', { data: { type: 'users', attributes: { disabled: false } } });
      assert.equal(enabled.status, 200);
      assert.equal(enabled.body.data.attributes.disabled, false);
      assert.equal(await signInStatus(email('standard'), passwords.standard), 303, 'the user can sign in again');
      assert.equal((await api('GET', '/api/v2/api_keys', 'standard')).status, 403, 'their application key stays disabled');
      const stored = await store.getAppKey(acme.org.id, acme.users.standard.appKey.id);
      assert.notEqual(stored?.disabledAt, null, 'kept, not deleted');
      const [failure] = (await store.listAuditEvents(acme.org.id, { action: 'user.login_failed' })).items;
      assert.equal(failure?.details.reason, 'app_key_disabled');

      // The admin re-enables the keys through the UI.
      const admin = await signIn(email('admin'), passwords.admin);
      const usersPage = await page(admin, '/users');
      assert.match(usersPage.text, new RegExp(`action="/users/${id('standard')}/disable"`));
      await api('PATCH', `/api/v2/users/${id('standard')}`, 'admin', { data: { type: 'users', attributes: { disabled: true } } });
      const viaUi = await post(admin, `/users/${id('standard')}/enable`, { app_keys: '1' });
      assert.equal(viaUi.status, 303);
      assert.match((await page(admin, '/users')).text, /enabled, with their application keys/);
      assert.equal((await api('GET', '/api/v2/api_keys', 'standard')).status, 200);
    });

    it('only admins manage users; the last enabled admin can be neither disabled nor deleted', async () => {
      for (const role of ['standard', 'read_only'] as const) {
        assert.equal((await api('GET', '/api/v2/users', role)).status, 403);
        assert.equal((await api('PATCH', `/api/v2/users/${id('admin')}`, role, { data: { type: 'users', attributes: { disabled: true } } })).status, 403);
        assert.equal((await api('DELETE', `/api/v2/users/${id('read_only')}`, role)).status, 403);
        assert.equal((await api('POST', `/api/v2/users/${id('admin')}/reset_password`, role)).status, 403);
      }
      const listed = await api('GET', '/api/v2/users', 'admin');
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.data.map((u: { id: string }) => u.id).sort(), [id('admin'), id('standard'), id('read_only')].sort());
      assert.doesNotMatch(listed.text, /scrypt/);

      const last = "This is the organization's last active admin. Create or enable another admin before disabling or deleting this one.";
      const disable = await api('PATCH', `/api/v2/users/${id('admin')}`, 'admin', { data: { type: 'users', attributes: { disabled: true } } });
      assert.deepEqual([disable.status, disable.body], [400, { errors: [last] }]);
      const del = await api('DELETE', `/api/v2/users/${id('admin')}`, 'admin');
      assert.deepEqual([del.status, del.body], [400, { errors: [last] }]);
      const admin = await signIn(email('admin'), passwords.admin);
      assert.equal((await post(admin, `/users/${id('admin')}/disable`, {})).status, 303);
      assert.ok((await page(admin, '/users')).text.includes('last active admin'), 'the UI shows the refusal');
      assert.equal((await store.getUser(acme.org.id, id('admin')))?.disabled, false);

      assert.equal((await api('GET', '/api/v2/users/00000000-0000-0000-0000-000000000000', 'admin')).status, 404);
      const rename = await api('PATCH', `/api/v2/users/${id('standard')}`, 'admin', {
        data: { type: 'users', attributes: { disabled: false, email: 'x@y.z' } },
      });
      assert.equal(rename.status, 400);
    });

    it('an admin reset: the password is shown once, sessions end, the old password and the app key stop working', async () => {
      const browser = await signIn(email('read_only'), passwords.read_only);
      const reset = await api('POST', `/api/v2/users/${id('read_only')}/reset_password`, 'admin');
      assert.equal(reset.status, 200, reset.text);
      const password = reset.body.data.attributes.password as string;
      secrets.push(password);
      assert.equal(password.length, 24);
      assert.equal(await live(browser), false);
      assert.equal(await signInStatus(email('read_only'), passwords.read_only), 401);
      assert.equal(await signInStatus(email('read_only'), password), 303);
      assert.equal((await api('GET', '/api/v2/api_keys', 'read_only')).status, 403);
      assert.doesNotMatch((await api('GET', `/api/v2/users/${id('read_only')}`, 'admin')).text, /password/);

      // In the UI: shown in the response to the form, not again when the form is sent twice.
      const admin = await signIn(email('admin'), passwords.admin);
      const users = await page(admin, '/users');
      const formId = new RegExp(`action="/users/${id('read_only')}/reset-password"[^>]*>[^]*?name="form_id" value="([^"]+)"`).exec(users.text)![1]!;
      const first = await post(admin, `/users/${id('read_only')}/reset-password`, { form_id: formId });
      assert.equal(first.status, 200);
      const shown = /id="reset-password" value="([^"]+)"/.exec(first.text)![1]!;
      secrets.push(shown);
      const again = await post(admin, `/users/${id('read_only')}/reset-password`, { form_id: formId });
      assert.equal(again.status, 303);
      assert.doesNotMatch((await page(admin, '/users')).text, new RegExp(shown));
      assert.equal(await signInStatus(email('read_only'), shown), 303);
      // The reset left the user enabled and their key disabled: the page offers to enable it.
      assert.match((await page(admin, '/users')).text, /Enable their 1 application key</);
      assert.equal((await post(admin, `/users/${id('read_only')}/enable`, { app_keys: '1' })).status, 303);
      assert.equal((await api('GET', '/api/v2/api_keys', 'read_only')).status, 200);
      assert.doesNotMatch((await page(admin, '/users')).text, /Enable their 1 application key</);
      const resets = (await store.listAuditEvents(acme.org.id, { action: 'user.password_reset' })).items;
      assert.equal(resets.length, 2);
      assert.ok(resets.every((e) => e.actorId === id('admin') && e.targetId === id('read_only')));
    });

    it('changing your own password needs the current one and ends your sessions (API and UI)', async () => {
      const other = await signIn(email('standard'), passwords.standard);
      const wrong = await api('POST', '/api/v2/current_user/password', 'standard', {
        data: { type: 'users', attributes: { current_password: 'not it at all', new_password: 'a-new-password-2' } },
      });
      assert.deepEqual([wrong.status, wrong.body], [400, { errors: ['The current password is not correct; the password was not changed.'] }]);
      const short = await api('POST', '/api/v2/current_user/password', 'standard', {
        data: { type: 'users', attributes: { current_password: passwords.standard, new_password: 'short' } },
      });
      assert.equal(short.status, 400);
      assert.match(short.body.errors[0], /has 5 characters; it needs at least 12/);
      assert.equal(await live(other), true, 'a refused change ends nothing');
      const changed = await api('POST', '/api/v2/current_user/password', 'standard', {
        data: { type: 'users', attributes: { current_password: passwords.standard, new_password: 'a-new-password-2' } },
      });
      assert.equal(changed.status, 204, changed.text);
      secrets.push('a-new-password-2');
      assert.equal(await live(other), false);
      assert.equal((await api('GET', '/api/v2/api_keys', 'standard')).status, 200, 'a change by the user keeps their app keys');
      assert.equal(await signInStatus(email('standard'), passwords.standard), 401);

      // The UI's account page.
      const browser = await signIn(email('standard'), 'a-new-password-2');
      const second = await signIn(email('standard'), 'a-new-password-2');
      assert.match((await page(browser, '/account')).text, /Change password/);
      const refused = await post(browser, '/account/password', { current_password: 'wrong', new_password: 'the-third-password' });
      assert.equal(refused.status, 400);
      assert.equal(await live(browser), true);
      const done = await post(browser, '/account/password', { current_password: 'a-new-password-2', new_password: 'the-third-password' });
      secrets.push('the-third-password');
      assert.deepEqual([done.status, done.location], [303, '/login']);
      assert.equal(await live(browser), false);
      assert.equal(await live(second), false);
      assert.equal(await signInStatus(email('standard'), 'the-third-password'), 303);
      const changes = (await store.listAuditEvents(acme.org.id, { action: 'user.password_change' })).items;
      assert.ok(changes.filter((e) => e.actorId === id('standard')).length >= 2);
    });

    it('DELETE removes the user and their app keys, keeps their audit trail; the UI deletes too', async () => {
      const created = await store.createUser(
        acme.org.id,
        { email: 'leaver@acme.example', name: 'Leaver', role: 'admin', passwordHash: await hashPassword('leaver-password-1') },
        CLI_ACTOR,
      );
      const browser = await signIn('leaver@acme.example', 'leaver-password-1');
      const removed = await api('DELETE', `/api/v2/users/${created.id}`, 'admin');
      assert.equal(removed.status, 204, removed.text);
      assert.equal(await live(browser), false);
      assert.equal((await api('GET', `/api/v2/users/${created.id}`, 'admin')).status, 404);
      assert.equal(await signInStatus('leaver@acme.example', 'leaver-password-1'), 401);
      const trail = (await store.listAuditEvents(acme.org.id)).items;
      assert.ok(
        trail.some((e) => e.action === 'user.login' && e.actorId === created.id),
        'their sign-in is still in the trail',
      );
      assert.deepEqual(trail.find((e) => e.action === 'user.delete')?.details, { email: 'leaver@acme.example', role: 'admin', app_keys_deleted: 0 });

      // read_only through the UI: the key it owns goes with it.
      const admin = await signIn(email('admin'), passwords.admin);
      const unconfirmed = await post(admin, `/users/${id('read_only')}/delete`, {});
      assert.equal(unconfirmed.status, 303);
      assert.ok(await store.getUser(acme.org.id, id('read_only')), 'not deleted without the confirmation');
      assert.equal((await post(admin, `/users/${id('read_only')}/delete`, { confirm: 'yes' })).status, 303);
      assert.equal(await store.getUser(acme.org.id, id('read_only')), undefined);
      assert.equal(await store.getAppKey(acme.org.id, acme.users.read_only.appKey.id), undefined);
      const after = (await page(admin, '/users')).text;
      assert.match(after, /deleted, with their application keys/);
      assert.doesNotMatch(after, new RegExp(`data-user-id="${id('read_only')}"`));
    });

    it('no password reached a log line', () => {
      assert.ok(logLines.length > 20, `the server logged (${logLines.length} lines)`);
      for (const secret of secrets) {
        const leaked = logLines.find((line) => line.includes(secret));
        assert.equal(leaked, undefined, 'a password in the log');
      }
    });
  });
}
