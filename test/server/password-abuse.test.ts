/**
 * Passwords through the API and the UI, tried as an attacker would (issue 15 follow-up), over
 * real HTTP against a listening server on SQLite:
 *  - a scoped application key cannot reset a password (even scoped `user_access_manage`) nor
 *    change its owner's: the password would sign in with the user's whole role;
 *  - the current password of a change is not an unthrottled oracle: through the API each
 *    attempt counts in the failed-authentication throttle before it is checked (parallel
 *    guesses included), through the UI in the sign-in throttle's (address, email) pair;
 *  - the reset answer, which carries a password, is `Cache-Control: no-store`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SCOPES } from '../../src/access/policy.js';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { verifyPassword } from '../../src/keys/password.js';
import { buildApp } from '../../src/server/app.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR, SQLITE, type TestStore } from '../support/dialects.js';
import { listenLocal, setPasswords } from './live-server.js';
import { seedOrg, type SeededOrg } from './seed.js';

describe('passwords under attack (SQLite, real HTTP)', () => {
  let db: TestStore;
  let store: Store;
  let app: FastifyInstance;
  let base: string;
  let acme: SeededOrg;
  /** The failed-authentication throttle's clock: moved on between tests so each starts unthrottled. */
  let clock = 1_000_000;
  const passwords = { admin: 'admin-password-1', standard: 'standard-password-1' };
  /** Application keys with scopes: the admin's with every scope, the standard user's with hosts_read. */
  let adminAllScopes = '';
  let standardHostsRead = '';

  before(async () => {
    db = await SQLITE.createStore();
    store = db.store;
    const hasher = createKeyHasher(await store.deploymentSecret());
    acme = await seedOrg(store, hasher, 'Acme');
    await setPasswords(store, acme, passwords);
    const scoped = async (role: 'admin' | 'standard', scopes: string[]) => {
      const secret = generateKey('app');
      await store.createAppKey(
        acme.org.id,
        acme.users[role].user.id,
        { name: `${role} scoped`, hash: hasher.hash(secret), last4: last4(secret), scopes },
        CLI_ACTOR,
      );
      return secret;
    };
    adminAllScopes = await scoped('admin', [...SCOPES]);
    standardHostsRead = await scoped('standard', ['hosts_read']);
    app = await buildApp({ store, hasher, logger: false, authThrottle: { maxFailures: 5, windowMs: 60_000, now: () => clock } });
    base = await listenLocal(app);
  });

  after(async () => {
    await app?.close();
    await db?.destroy();
  });

  const api = async (method: string, path: string, appKey: string, body?: unknown) => {
    const response = await fetch(base + path, {
      method,
      headers: { 'dd-api-key': acme.apiSecret, 'dd-application-key': appKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, text, headers: response.headers };
  };
  const change = (current: string, next: string) => ({ data: { type: 'users', attributes: { current_password: current, new_password: next } } });
  const passwordIs = async (role: 'admin' | 'standard', password: string) =>
    verifyPassword(password, (await store.getUser(acme.org.id, acme.users[role].user.id))!.passwordHash);

  it('a scoped key, even with every scope, cannot reset a password; an unscoped admin key can, answered no-store', async () => {
    const refused = await api('POST', `/api/v2/users/${acme.users.standard.user.id}/reset_password`, adminAllScopes);
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /without scopes/);
    assert.equal(await passwordIs('standard', passwords.standard), true, 'the password was not reset');

    const reset = await api('POST', `/api/v2/users/${acme.users.read_only.user.id}/reset_password`, acme.users.admin.appSecret);
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.headers.get('cache-control'), 'no-store');
  });

  it("a scoped key cannot change its owner's password, even knowing the current one", async () => {
    const refused = await api('POST', '/api/v2/current_user/password', standardHostsRead, change(passwords.standard, 'taken-over-password-1'));
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /without scopes/);
    assert.equal(await passwordIs('standard', passwords.standard), true);
  });

  it('wrong current passwords through the API: counted before the check, so 20 parallel guesses get at most 5 checks', async () => {
    clock += 120_000;
    const guesses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api('POST', '/api/v2/current_user/password', acme.users.standard.appSecret, change(`guess-${i}-password`, 'new-password-123')),
      ),
    );
    const statuses = guesses.map((g) => g.status);
    assert.ok(statuses.filter((s) => s === 400).length <= 5, `checked: ${statuses.join(',')}`);
    assert.ok(statuses.filter((s) => s === 429).length >= 15, statuses.join(','));
    // The address is throttled now: even the right password is not checked until the window passes.
    const right = await api('POST', '/api/v2/current_user/password', acme.users.standard.appSecret, change(passwords.standard, 'new-password-123'));
    assert.equal(right.status, 429);
    assert.equal(await passwordIs('standard', passwords.standard), true);
    clock += 120_000;
    const later = await api('POST', '/api/v2/current_user/password', acme.users.standard.appSecret, change(passwords.standard, 'standard-password-2'));
    assert.equal(later.status, 204, later.text);
    passwords.standard = 'standard-password-2';
  });

  it('wrong current passwords through the UI: the sign-in pair throttle, counted before the check (parallel too)', async () => {
    clock += 120_000;
    // Sign in as the admin, as a browser would.
    const form = await fetch(`${base}/login`);
    const loginCookie = form.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const loginCsrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signIn = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: loginCsrf, email: acme.users.admin.user.email, password: passwords.admin }).toString(),
    });
    assert.equal(signIn.status, 303);
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0] ?? '')
      .filter((c) => !c.endsWith('='))
      .join('; ');
    const account = await fetch(`${base}/account`, { headers: { cookie } });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await account.text())![1]!;
    const post = (current: string) =>
      fetch(`${base}/account/password`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, current_password: current, new_password: 'admin-taken-over-1' }).toString(),
      }).then((r) => r.status);
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => post(`guess-${i}`)));
    // Three free failures per (address, email), then a delay: the rest are not checked.
    assert.ok(statuses.filter((s) => s === 400).length <= 3, statuses.join(','));
    assert.ok(statuses.filter((s) => s === 429).length >= 9, statuses.join(','));
    assert.equal(await post(passwords.admin), 429, 'the right password waits too');
    assert.equal(await passwordIs('admin', passwords.admin), true);
  });
});
