/**
 * Issue 15 rows 5, 7 and 8 through the real UI plugin on a real (SQLite) store, with inject:
 * - row 5: `next` after sign-in only ever leads to a path of this site;
 * - row 7: the /audit page needs what the API's audit route needs (admin);
 * - row 8: failed sign-ins from one address never lock the user out from another; the
 *   attacker's own waits grow (1 s, 2 s, 4 s …, on an injected clock); one address is capped
 *   across emails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { safeNext } from '../../src/ui/routes/auth-routes.js';
import { cookieHeader, cookiesOf, createDeployment, createUser, csrfOf, form, signIn, uiApp, type SeededUser, type UiDeployment } from './ui-harness.js';

/** One sign-in through GET + POST /login from `remoteAddress`. */
async function attempt(app: FastifyInstance, who: { email: string; password: string }, remoteAddress: string, next?: string) {
  const loginForm = await app.inject({ method: 'GET', url: '/login', remoteAddress });
  const body = form({ _csrf: csrfOf(loginForm.body), email: who.email, password: who.password, ...(next === undefined ? {} : { next }) });
  return app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress,
    payload: body.payload,
    headers: { ...body.headers, cookie: cookieHeader(cookiesOf(loginForm)) },
  });
}

describe('web UI access (issue 15 rows 5, 7, 8)', () => {
  let d: UiDeployment;
  let app: FastifyInstance;
  let now = 1_700_000_000_000;
  before(async () => {
    d = await createDeployment('access');
    app = await uiApp(d, { loginThrottle: { now: () => now } });
  });
  after(async () => {
    await app.close();
    await d.destroy();
  });

  it('row 5: after sign-in, `next` leads only to a path of this site', async () => {
    const offsite = [
      '/\t/evil.example/x',
      '/\n/evil.example/x',
      '/\r/evil.example',
      '/\\evil.example',
      '\\/evil.example',
      '/\\/evil.example',
      '//evil.example/x',
      '///evil.example/x',
      'https://evil.example/',
      'http:evil.example',
      'javascript:alert(1)',
      '%2F%2Fevil.example',
      '/%09/evil.example'.replace('%09', '\u0009'),
      ' //evil.example',
      '/\u0000/evil.example',
      'evil.example',
    ];
    for (const next of offsite) {
      const response = await attempt(app, d.users.admin, '198.51.100.1', next);
      assert.equal(response.statusCode, 303, JSON.stringify(next));
      const location = String(response.headers.location);
      assert.equal(new URL(location, 'https://rekey.example').origin, 'https://rekey.example', `next=${JSON.stringify(next)} → ${location}`);
      assert.equal(location, '/keys', JSON.stringify(next));
    }
    // Same-site paths are kept, with their query; percent-encoded slashes stay encoded (a path, not a host).
    for (const [next, expected] of [
      ['/hosts', '/hosts'],
      ['/keys/abc?x=1#y', '/keys/abc?x=1#y'],
      ['/%2F/evil.example', '/%2F/evil.example'],
      ['/%5Cevil', '/%5Cevil'],
    ] as const) {
      const response = await attempt(app, d.users.admin, '198.51.100.1', next);
      assert.equal(response.headers.location, expected, JSON.stringify(next));
    }
    // And through the query string of GET /login (decoded by the server before it is checked).
    const page = await app.inject({ method: 'GET', url: '/login?next=%2F%09%2Fevil.example%2Fx' });
    assert.doesNotMatch(page.body, /evil\.example/);
  });

  it('row 5: safeNext re-serialises what it accepts, so the browser follows exactly what was checked', () => {
    assert.equal(safeNext('/a/../b'), '/b');
    assert.equal(safeNext('/a b'), '/a%20b');
    assert.equal(safeNext(undefined), '/keys');
    assert.equal(safeNext(`/${'a'.repeat(3000)}`), '/keys');
  });

  it('row 7: /audit is for admins only, as GET /api/v2/audit/events is', async () => {
    for (const role of ['standard', 'read_only'] as const) {
      const viewer = await signIn(app, d.users[role]);
      const page = await viewer.get('/audit');
      assert.equal(page.statusCode, 403, `${role} sees no audit trail`);
      assert.doesNotMatch(page.body, new RegExp(d.users.admin.email.replace('.', '\\.')), 'no emails in the refusal');
      assert.doesNotMatch((await viewer.get('/keys')).body, /href="\/audit"/, `${role} gets no link to the audit trail`);
    }
    const admin = await signIn(app, d.users.admin);
    assert.equal((await admin.get('/audit')).statusCode, 200);
    assert.match((await admin.get('/keys')).body, /href="\/audit"/);
  });

  it('row 8: an attacker from another address cannot lock the user out, and waits longer each time', async () => {
    const victim: SeededUser = await createUser(d.store, d.org.id, 'standard', `victim-${Date.now()}@access.test`);
    const wrong = { email: victim.email, password: 'not-the-password' };
    const attacker = '203.0.113.9';
    const statuses: number[] = [];
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await attempt(app, wrong, attacker);
      statuses.push(response.statusCode);
      if (response.statusCode === 429) waits.push(Number(response.headers['retry-after']));
      if (response.statusCode === 429) now += Number(response.headers['retry-after']) * 1000;
    }
    // 3 free failures, then a wait before each further attempt: 1 s, then 2 s.
    assert.deepEqual(statuses, [401, 401, 401, 429, 401, 429]);
    assert.deepEqual(waits, [1, 2]);
    // The real user, from their own address, signs in at once (the old per-email lockout answered 429).
    const own = await attempt(app, victim, '192.0.2.44');
    assert.equal(own.statusCode, 303, 'the victim is not locked out');
    assert.equal(own.headers.location, '/keys');
    // The attacker's own pair keeps growing: its next failure brings a 4 s wait, even for the right password.
    assert.equal((await attempt(app, wrong, attacker)).statusCode, 401);
    assert.equal((await attempt(app, victim, attacker)).statusCode, 429, 'even the right password waits on the delayed pair');
  });

  it('row 8: one address guessing many accounts is capped (20 failures per 15 min)', async () => {
    const guesser = '203.0.113.77';
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await attempt(app, { email: `nobody-${i}@access.test`, password: 'x' }, guesser)).statusCode);
    assert.deepEqual(statuses, [...Array<number>(20).fill(401), 429]);
    const refused = await attempt(app, d.users.admin, guesser);
    assert.equal(refused.statusCode, 429, 'the capped address waits even with a right password');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal((await attempt(app, d.users.admin, '198.51.100.2')).statusCode, 303, 'other addresses are not capped');
  });
});
