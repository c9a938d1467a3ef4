/**
 * The Store contract (src/store/store.ts), run unchanged against every dialect: CRUD, tenant
 * scoping, listing, the invariants, restore window, roll semantics, audit events, key usage
 * and the key-change feed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { isRekeyError, type ErrorCode } from '../../src/errors.js';
import { generateKey, last4, parseKey } from '../../src/keys/key-format.js';
import { verifyPassword } from '../../src/keys/password.js';
import { bootstrapDeployment, type BootstrapCredentials } from '../../src/store/bootstrap.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import type { Actor, ApiKey, KeyChange, Org, Store, User } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';
import { UpstreamKeyCipher } from '../../src/relay/upstream-crypto.js';

delete process.env.REKEY_SECRET; // the secret tests below are about the store's own secret

const DAY = 24 * 60 * 60 * 1000;
const START = Date.UTC(2026, 0, 1);
const hasher = createKeyHasher(randomBytes(32));

function apiKeyInput(name: string) {
  const key = generateKey('api');
  return { name, hash: hasher.hash(key), last4: last4(key) };
}

function appKeyInput(name: string, scopes?: string[] | null) {
  const key = generateKey('app');
  return { name, hash: hasher.hash(key), last4: last4(key), ...(scopes !== undefined ? { scopes } : {}) };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isRekeyError(error, code), `expected ${code}, got ${String(error)}`);
    return true;
  });
}

function userActor(user: User): Actor {
  return { userId: user.id, kind: 'user', sourceIp: '192.0.2.7' };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const dialect of DIALECTS) {
  describe(`store contract on ${dialect.name}`, () => {
    let db: TestStore;
    let store: Store;
    const clock = { ms: START };
    const tick = (ms = 1000) => (clock.ms += ms);

    beforeEach(async () => {
      clock.ms = START;
      db = await dialect.createStore({ now: () => new Date(clock.ms), maxApiKeysPerOrg: 5 });
      store = db.store;
    });
    afterEach(() => db.destroy());

    /** An org with one admin user and one API key, like a bootstrapped deployment. */
    async function orgWithKey(name: string): Promise<{ org: Org; admin: User; key: ApiKey }> {
      const org = await store.createOrg(name, CLI_ACTOR);
      const admin = await store.createUser(org.id, { email: `admin@${name}.example`, name: 'Admin', role: 'admin', passwordHash: 'scrypt$x' }, CLI_ACTOR);
      const key = await store.createApiKey(org.id, apiKeyInput('first'), CLI_ACTOR);
      return { org, admin, key };
    }

    it('reports its dialect and migrates idempotently', async () => {
      assert.equal(store.dialect, dialect.name);
      await store.migrate();
      await store.migrate();
      assert.equal(await store.isInitialised(), false);
      await store.createOrg('acme', CLI_ACTOR);
      assert.equal(await store.isInitialised(), true);
    });

    describe('organisations', () => {
      it('creates, gets, finds by id or name and lists', async () => {
        const acme = await store.createOrg('  acme  ', CLI_ACTOR);
        tick();
        const globex = await store.createOrg('globex', CLI_ACTOR);
        assert.equal(acme.name, 'acme');
        assert.equal(acme.createdAt.getTime(), START);
        assert.deepEqual(await store.getOrg(acme.id), acme);
        assert.deepEqual(await store.findOrg('acme'), acme);
        assert.deepEqual(await store.findOrg(globex.id), globex);
        assert.equal(await store.findOrg('nope'), undefined);
        assert.equal(await store.getOrg('00000000-0000-0000-0000-000000000000'), undefined);
        assert.deepEqual(await store.listOrgs(), [acme, globex]);
        const audit = await store.listAuditEvents(acme.id);
        assert.deepEqual(
          audit.items.map((e) => e.action),
          ['org.create'],
        );
      });

      it('rejects a duplicate name and names outside 1–255 characters', async () => {
        await store.createOrg('acme', CLI_ACTOR);
        await rejectsWith(store.createOrg('acme', CLI_ACTOR), 'DUPLICATE_ORG');
        await rejectsWith(store.createOrg('', CLI_ACTOR), 'INVALID_NAME');
        await rejectsWith(store.createOrg('   ', CLI_ACTOR), 'INVALID_NAME');
        await rejectsWith(store.createOrg('x'.repeat(256), CLI_ACTOR), 'INVALID_NAME');
        assert.equal((await store.createOrg('x'.repeat(255), CLI_ACTOR)).name.length, 255);
        assert.equal((await store.listOrgs()).length, 2);
      });
    });

    describe('users', () => {
      it('creates users, scoped to their org, emails unique case-insensitively', async () => {
        const acme = await store.createOrg('acme', CLI_ACTOR);
        const globex = await store.createOrg('globex', CLI_ACTOR);
        const ann = await store.createUser(acme.id, { email: 'Ann@Example.com', name: 'Ann', role: 'admin', passwordHash: 'scrypt$1' }, CLI_ACTOR);
        assert.equal(ann.orgId, acme.id);
        assert.equal(ann.email, 'Ann@Example.com');
        assert.equal(ann.role, 'admin');
        assert.equal(ann.disabled, false);
        assert.equal(ann.passwordHash, 'scrypt$1');
        assert.deepEqual(await store.getUser(acme.id, ann.id), ann);
        assert.equal(await store.getUser(globex.id, ann.id), undefined);
        assert.deepEqual(await store.findUserByEmail('ann@example.COM'), ann);
        assert.equal(await store.findUserByEmail('bob@example.com'), undefined);

        await rejectsWith(
          store.createUser(globex.id, { email: 'ANN@example.com', name: 'A', role: 'standard', passwordHash: 'p' }, CLI_ACTOR),
          'DUPLICATE_EMAIL',
        );
        await rejectsWith(
          store.createUser('no-such-org', { email: 'x@example.com', name: 'X', role: 'standard', passwordHash: 'p' }, CLI_ACTOR),
          'ORG_NOT_FOUND',
        );
        await rejectsWith(store.createUser(acme.id, { email: 'not an email', name: 'X', role: 'standard', passwordHash: 'p' }, CLI_ACTOR), 'BAD_REQUEST');
        await rejectsWith(store.createUser(acme.id, { email: 'r@example.com', name: 'X', role: 'root' as never, passwordHash: 'p' }, CLI_ACTOR), 'BAD_REQUEST');
        const bob = await store.createUser(acme.id, { email: 'bob@example.com', name: 'Bob', role: 'read_only', passwordHash: 'p' }, userActor(ann));
        assert.deepEqual(await store.listUsers(acme.id), [ann, bob]);
        assert.deepEqual(await store.listUsers(globex.id), []);
        const events = (await store.listAuditEvents(acme.id, { action: 'user.create' })).items;
        assert.equal(events.length, 2);
        assert.equal(events[0]!.actorId, ann.id);
        assert.equal(events[0]!.sourceIp, '192.0.2.7');
        assert.equal(events[0]!.targetId, bob.id);
      });
    });

    describe('user lifecycle (issue 15)', () => {
      async function member(orgId: string, email: string, role: User['role'] = 'standard'): Promise<User> {
        return store.createUser(orgId, { email, name: email.split('@')[0]!, role, passwordHash: 'scrypt$old' }, CLI_ACTOR);
      }

      it('disabling ends sessions and disables (not deletes) the app keys; enabling leaves the keys disabled unless asked', async () => {
        const { org, admin } = await orgWithKey('acme');
        const bob = await member(org.id, 'bob@acme.example');
        const k1 = await store.createAppKey(org.id, bob.id, appKeyInput('bob 1'), CLI_ACTOR);
        const k2 = await store.createAppKey(org.id, bob.id, appKeyInput('bob 2'), CLI_ACTOR);
        const adminKey = await store.createAppKey(org.id, admin.id, appKeyInput('admin'), CLI_ACTOR);
        assert.equal(bob.sessionsEndedAt, null);
        assert.equal(k1.disabledAt, null);
        tick(5000);
        const disabled = await store.setUserDisabled(org.id, bob.id, true, userActor(admin));
        assert.equal(disabled.disabled, true);
        assert.equal(disabled.sessionsEndedAt?.getTime(), clock.ms);
        assert.deepEqual(await store.getUser(org.id, bob.id), disabled);
        for (const key of [k1, k2]) {
          const stored = await store.findAppKeyByHash(key.hash);
          assert.equal(stored?.disabledAt?.getTime(), clock.ms, 'kept, with when it was disabled');
        }
        assert.equal((await store.getAppKey(org.id, adminKey.id))?.disabledAt, null, "another user's key is untouched");
        const [event] = (await store.listAuditEvents(org.id, { action: 'user.disable' })).items;
        assert.equal(event?.actorId, admin.id);
        assert.equal(event?.targetId, bob.id);
        assert.deepEqual(event?.details, { email: 'bob@acme.example', app_keys_disabled: 2 });

        // Idempotent: no second event, the time of the first kept.
        tick();
        assert.deepEqual(await store.setUserDisabled(org.id, bob.id, true, CLI_ACTOR), disabled);
        assert.equal((await store.listAuditEvents(org.id, { action: 'user.disable' })).totalFiltered, 1);

        tick();
        const enabled = await store.setUserDisabled(org.id, bob.id, false, userActor(admin));
        assert.equal(enabled.disabled, false);
        assert.notEqual((await store.getAppKey(org.id, k1.id))?.disabledAt, null, 're-enabling the user does not re-enable keys');
        assert.deepEqual((await store.listAuditEvents(org.id, { action: 'user.enable' })).items[0]?.details, {
          email: 'bob@acme.example',
          app_keys_enabled: 0,
        });
        await store.setUserDisabled(org.id, bob.id, false, CLI_ACTOR, { enableAppKeys: true });
        assert.equal((await store.getAppKey(org.id, k1.id))?.disabledAt, null);
        assert.equal((await store.getAppKey(org.id, k2.id))?.disabledAt, null);
        assert.deepEqual((await store.listAuditEvents(org.id, { action: 'user.enable' })).items[0]?.details, {
          email: 'bob@acme.example',
          app_keys_enabled: 2,
        });
        assert.equal((await store.listAuditEvents(org.id, { action: 'user.enable' })).totalFiltered, 2);
      });

      it('never leaves an organisation without an enabled admin (disable or delete), and is scoped to the org', async () => {
        const { org, admin } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        await rejectsWith(store.setUserDisabled(org.id, admin.id, true, CLI_ACTOR), 'LAST_ACTIVE_ADMIN');
        await rejectsWith(store.deleteUser(org.id, admin.id, CLI_ACTOR), 'LAST_ACTIVE_ADMIN');
        // An admin of another organisation does not count, and is not found from here.
        await rejectsWith(store.setUserDisabled(org.id, other.admin.id, true, CLI_ACTOR), 'USER_NOT_FOUND');
        await rejectsWith(store.deleteUser(org.id, other.admin.id, CLI_ACTOR), 'USER_NOT_FOUND');
        await rejectsWith(store.setUserPassword(org.id, other.admin.id, 'scrypt$x', 'reset', CLI_ACTOR), 'USER_NOT_FOUND');
        await rejectsWith(store.setUserDisabled('no-such-org', admin.id, true, CLI_ACTOR), 'USER_NOT_FOUND');
        const second = await member(org.id, 'second@acme.example', 'admin');
        await store.setUserDisabled(org.id, admin.id, true, userActor(second));
        // A disabled admin is no admin: the second is now the last one.
        await rejectsWith(store.setUserDisabled(org.id, second.id, true, CLI_ACTOR), 'LAST_ACTIVE_ADMIN');
        await rejectsWith(store.deleteUser(org.id, second.id, CLI_ACTOR), 'LAST_ACTIVE_ADMIN');
        // A disabled admin can be deleted; non-admins never hit the rule.
        await store.deleteUser(org.id, admin.id, userActor(second));
        const ro = await member(org.id, 'ro@acme.example', 'read_only');
        await store.setUserDisabled(org.id, ro.id, true, CLI_ACTOR);
        await store.deleteUser(org.id, ro.id, CLI_ACTOR);
        assert.deepEqual(
          (await store.listUsers(org.id)).map((u) => u.email),
          ['second@acme.example'],
        );
        assert.equal((await store.getUser(org.id, second.id))?.disabled, false);
      });

      it('two admins disabling each other at once: exactly one succeeds, one admin stays enabled', async () => {
        const { org, admin } = await orgWithKey('acme');
        const second = await member(org.id, 'second@acme.example', 'admin');
        const node2 = await db.openAnother();
        const results = await Promise.allSettled([
          store.setUserDisabled(org.id, second.id, true, userActor(admin)),
          node2.setUserDisabled(org.id, admin.id, true, userActor(second)),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
        const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.ok(isRekeyError(refused.reason, 'LAST_ACTIVE_ADMIN'), String(refused.reason));
        const enabledAdmins = (await store.listUsers(org.id)).filter((u) => u.role === 'admin' && !u.disabled);
        assert.equal(enabledAdmins.length, 1);
        // Same for two deletes.
        const third = await member(org.id, 'third@acme.example', 'admin');
        const survivor = enabledAdmins[0]!;
        const deletes = await Promise.allSettled([store.deleteUser(org.id, survivor.id, CLI_ACTOR), node2.deleteUser(org.id, third.id, CLI_ACTOR)]);
        assert.equal(deletes.filter((r) => r.status === 'fulfilled').length, 1);
        assert.equal((await store.listUsers(org.id)).filter((u) => u.role === 'admin' && !u.disabled).length, 1);
      });

      it('deleting removes the user and their app keys, keeps the audit trail and frees the email', async () => {
        const { org, admin } = await orgWithKey('acme');
        const bob = await member(org.id, 'bob@acme.example');
        const key = await store.createAppKey(org.id, bob.id, appKeyInput('bob'), CLI_ACTOR);
        await store.createApiKey(org.id, apiKeyInput('made by bob'), userActor(bob));
        const heard: string[] = [];
        const stop = await store.watchKeyChanges({ onChange: (c) => heard.push(c.keyId), onReset: () => {} });
        try {
          tick();
          await store.deleteUser(org.id, bob.id, userActor(admin));
          await waitFor(() => heard.includes(key.id), 'the app key announced on the key-change feed');
        } finally {
          await stop();
        }
        assert.equal(await store.getUser(org.id, bob.id), undefined);
        assert.equal(await store.findUserByEmail('bob@acme.example'), undefined);
        assert.equal(await store.findAppKeyByHash(key.hash), undefined);
        assert.equal((await store.listAppKeys(org.id, { ownerId: bob.id })).totalFiltered, 0);
        const events = (await store.listAuditEvents(org.id)).items;
        const deleted = events.find((e) => e.action === 'user.delete');
        assert.deepEqual(deleted?.details, { email: 'bob@acme.example', role: 'standard', app_keys_deleted: 1 });
        assert.equal(deleted?.actorId, admin.id);
        assert.ok(
          events.some((e) => e.action === 'api_key.create' && e.actorId === bob.id),
          "bob's own events are kept",
        );
        assert.ok(events.some((e) => e.action === 'user.create' && e.targetId === bob.id));
        await rejectsWith(store.deleteUser(org.id, bob.id, CLI_ACTOR), 'USER_NOT_FOUND');
        const again = await member(org.id, 'BOB@acme.example');
        assert.notEqual(again.id, bob.id);
      });

      it('a password change or reset replaces the hash and ends sessions; a reset also disables the app keys; neither is logged', async () => {
        const { org, admin } = await orgWithKey('acme');
        const bob = await member(org.id, 'bob@acme.example');
        const key = await store.createAppKey(org.id, bob.id, appKeyInput('bob'), CLI_ACTOR);
        tick();
        const changed = await store.setUserPassword(org.id, bob.id, 'scrypt$changed', 'change', userActor(bob));
        assert.equal(changed.passwordHash, 'scrypt$changed');
        assert.equal(changed.sessionsEndedAt?.getTime(), clock.ms);
        assert.equal(changed.disabled, false);
        assert.equal((await store.getAppKey(org.id, key.id))?.disabledAt, null, 'a change keeps the app keys');
        tick();
        const reset = await store.setUserPassword(org.id, bob.id, 'scrypt$reset', 'reset', userActor(admin));
        assert.deepEqual(await store.getUser(org.id, bob.id), reset);
        assert.equal(reset.passwordHash, 'scrypt$reset');
        assert.equal(reset.sessionsEndedAt?.getTime(), clock.ms);
        assert.equal((await store.getAppKey(org.id, key.id))?.disabledAt?.getTime(), clock.ms, 'a reset disables the app keys');
        const events = (await store.listAuditEvents(org.id)).items.filter((e) => e.action.startsWith('user.password'));
        assert.deepEqual(
          events.map((e) => [e.action, e.actorId, e.details]),
          [
            ['user.password_reset', admin.id, { email: 'bob@acme.example', app_keys_disabled: 1 }],
            ['user.password_change', bob.id, { email: 'bob@acme.example' }],
          ],
        );
        assert.doesNotMatch(JSON.stringify(await store.listAuditEvents(org.id)), /scrypt\$/);
        await rejectsWith(store.setUserPassword(org.id, bob.id, '', 'change', CLI_ACTOR), 'BAD_REQUEST');
      });
    });

    describe('API keys', () => {
      it('creates, gets, renames and finds by hash, scoped to the org', async () => {
        const { org, admin, key } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        assert.equal(key.status, 'active');
        assert.equal(key.name, 'first');
        assert.match(key.id, /^[0-9a-f-]{36}$/);
        assert.equal(key.createdBy, null);
        assert.equal(key.expiresAt, null);
        assert.equal(key.revokedAt, null);
        assert.equal(key.lastUsedAt, null);
        assert.deepEqual(await store.getApiKey(org.id, key.id), key);
        assert.equal(await store.getApiKey(other.org.id, key.id), undefined);
        assert.deepEqual(await store.findApiKeyByHash(key.hash), key);
        assert.equal(await store.findApiKeyByHash('0'.repeat(64)), undefined);

        tick(5000);
        const renamed = await store.renameApiKey(org.id, key.id, ' renamed ', userActor(admin));
        assert.equal(renamed.name, 'renamed');
        assert.equal(renamed.modifiedAt.getTime(), clock.ms);
        assert.equal(renamed.modifiedBy, admin.id);
        assert.equal(renamed.createdAt.getTime(), START);
        assert.deepEqual(await store.getApiKey(org.id, key.id), renamed);
        await rejectsWith(store.renameApiKey(other.org.id, key.id, 'x', CLI_ACTOR), 'API_KEY_NOT_FOUND');
        await rejectsWith(store.renameApiKey(org.id, key.id, '', CLI_ACTOR), 'INVALID_NAME');
        await rejectsWith(store.revokeApiKey(other.org.id, key.id, CLI_ACTOR), 'API_KEY_NOT_FOUND');
        await rejectsWith(store.createApiKey('no-such-org', apiKeyInput('x'), CLI_ACTOR), 'ORG_NOT_FOUND');
        await rejectsWith(store.createApiKey(org.id, apiKeyInput('y'.repeat(256)), CLI_ACTOR), 'INVALID_NAME');

        const events = (await store.listAuditEvents(org.id)).items;
        assert.deepEqual(
          events.map((e) => e.action),
          ['api_key.rename', 'api_key.create', 'user.create', 'org.create'],
        );
        assert.deepEqual(events[0]!.details, { from: 'first', to: 'renamed', last4: key.last4 });
        assert.ok(!JSON.stringify(events).includes(key.hash), 'audit details never carry the hash');
      });

      it('lists with filters, sorting, paging and totalFiltered', async () => {
        const { org, key: first } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        await store.createApiKey(other.org.id, apiKeyInput('Beta prod'), CLI_ACTOR);
        const names = ['Beta prod', 'alpha staging', 'gamma PROD', '100%_literal'];
        const created: ApiKey[] = [first];
        for (const name of names) {
          tick(DAY);
          created.push(await store.createApiKey(org.id, apiKeyInput(name), CLI_ACTOR));
        }
        // Modify them in reverse order so modified_at and created_at orders differ.
        for (const key of [...created].reverse()) {
          tick(DAY);
          await store.renameApiKey(org.id, key.id, key.name, CLI_ACTOR);
        }
        const all = await store.listApiKeys(org.id);
        assert.equal(all.totalFiltered, 5);
        assert.deepEqual(
          all.items.map((k) => k.id),
          created.map((k) => k.id),
          'default: created_at ascending',
        );

        const byName = (await store.listApiKeys(org.id, { sort: { field: 'name', direction: 'asc' } })).items.map((k) => k.name);
        assert.deepEqual(byName, [...byName].sort());
        const byNameDesc = (await store.listApiKeys(org.id, { sort: { field: 'name', direction: 'desc' } })).items.map((k) => k.name);
        assert.deepEqual(byNameDesc, [...byName].reverse());
        const byModified = await store.listApiKeys(org.id, { sort: { field: 'modified_at', direction: 'asc' } });
        assert.deepEqual(
          byModified.items.map((k) => k.id),
          [...created].reverse().map((k) => k.id),
        );
        const byCreatedDesc = await store.listApiKeys(org.id, { sort: { field: 'created_at', direction: 'desc' } });
        assert.deepEqual(
          byCreatedDesc.items.map((k) => k.id),
          [...created].reverse().map((k) => k.id),
        );
        const byLast4 = (await store.listApiKeys(org.id, { sort: { field: 'last4', direction: 'asc' } })).items.map((k) => k.last4);
        assert.deepEqual(byLast4, [...byLast4].sort());

        const prod = await store.listApiKeys(org.id, { filter: 'PROD' });
        assert.deepEqual(prod.items.map((k) => k.name).sort(), ['Beta prod', 'gamma PROD']);
        assert.equal(prod.totalFiltered, 2);
        assert.deepEqual(
          (await store.listApiKeys(org.id, { filter: '%_' })).items.map((k) => k.name),
          ['100%_literal'],
        );
        assert.equal((await store.listApiKeys(org.id, { filter: '%' })).totalFiltered, 1, 'LIKE wildcards are literal');
        const target = created[2]!;
        const byLast4Filter = await store.listApiKeys(org.id, { filter: target.last4 });
        assert.ok(byLast4Filter.items.some((k) => k.id === target.id));

        const createdRange = await store.listApiKeys(org.id, {
          createdAt: { start: new Date(START + DAY), end: new Date(START + 3 * DAY) },
        });
        assert.deepEqual(
          createdRange.items.map((k) => k.id),
          created.slice(1, 4).map((k) => k.id),
        );
        const modifiedSince = await store.listApiKeys(org.id, { modifiedAt: { start: new Date(START + 8 * DAY) } });
        assert.deepEqual(
          modifiedSince.items.map((k) => k.id),
          [created[0]!.id, created[1]!.id],
        );
        const modifiedUntil = await store.listApiKeys(org.id, { modifiedAt: { end: new Date(START + 5 * DAY) } });
        assert.deepEqual(
          modifiedUntil.items.map((k) => k.id),
          [created[4]!.id],
        );

        const page0 = await store.listApiKeys(org.id, { page: { size: 2, number: 0 } });
        const page2 = await store.listApiKeys(org.id, { page: { size: 2, number: 2 } });
        const page3 = await store.listApiKeys(org.id, { page: { size: 2, number: 3 } });
        assert.deepEqual(
          page0.items.map((k) => k.id),
          created.slice(0, 2).map((k) => k.id),
        );
        assert.deepEqual(
          page2.items.map((k) => k.id),
          created.slice(4).map((k) => k.id),
        );
        assert.deepEqual(page3.items, []);
        for (const page of [page0, page2, page3]) assert.equal(page.totalFiltered, 5);
        const filteredPage = await store.listApiKeys(org.id, { filter: 'a', page: { size: 1, number: 1 } });
        assert.equal(filteredPage.items.length, 1);
        assert.equal(filteredPage.totalFiltered, 4);

        await store.revokeApiKey(org.id, created[1]!.id, CLI_ACTOR);
        assert.equal((await store.listApiKeys(org.id)).totalFiltered, 4, 'a revoked key drops out by default');
        const revoked = await store.listApiKeys(org.id, { status: 'revoked' });
        assert.deepEqual(
          revoked.items.map((k) => [k.id, k.status]),
          [[created[1]!.id, 'revoked']],
        );
        assert.equal((await store.listApiKeys(org.id, { status: 'all' })).totalFiltered, 5);
        assert.equal((await store.listApiKeys(other.org.id, { status: 'all' })).totalFiltered, 2);
      });

      it('never lets an org reach zero active keys', async () => {
        const { org, key } = await orgWithKey('acme');
        await rejectsWith(store.revokeApiKey(org.id, key.id, CLI_ACTOR), 'LAST_ACTIVE_API_KEY');
        const second = await store.createApiKey(org.id, apiKeyInput('second'), CLI_ACTOR);
        tick();
        const revoked = await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
        assert.equal(revoked.status, 'revoked');
        assert.equal(revoked.revokedAt?.getTime(), clock.ms);
        assert.equal(revoked.revokedBy, null);
        await rejectsWith(store.revokeApiKey(org.id, second.id, CLI_ACTOR), 'LAST_ACTIVE_API_KEY');
        assert.equal((await store.getApiKey(org.id, second.id))?.status, 'active');

        // Idempotent: revoking again returns it unchanged and writes no audit event.
        const before = (await store.listAuditEvents(org.id)).totalFiltered;
        tick();
        assert.deepEqual(await store.revokeApiKey(org.id, key.id, CLI_ACTOR), revoked);
        assert.equal((await store.listAuditEvents(org.id)).totalFiltered, before);
        await rejectsWith(store.renameApiKey(org.id, key.id, 'x', CLI_ACTOR), 'API_KEY_REVOKED');
        const revokeEvent = (await store.listAuditEvents(org.id, { action: 'api_key.revoke' })).items;
        assert.equal(revokeEvent.length, 1);
        assert.equal(revokeEvent[0]!.targetId, key.id);
      });

      it('caps unrevoked keys at maxApiKeysPerOrg', async () => {
        const { org } = await orgWithKey('acme');
        const keys: ApiKey[] = [];
        for (let i = 0; i < 4; i++) keys.push(await store.createApiKey(org.id, apiKeyInput(`k${i}`), CLI_ACTOR));
        await rejectsWith(store.createApiKey(org.id, apiKeyInput('sixth'), CLI_ACTOR), 'API_KEY_LIMIT_REACHED');
        await store.revokeApiKey(org.id, keys[0]!.id, CLI_ACTOR);
        await store.createApiKey(org.id, apiKeyInput('fits again'), CLI_ACTOR);
        await rejectsWith(store.restoreApiKey(org.id, keys[0]!.id, CLI_ACTOR), 'API_KEY_LIMIT_REACHED');
        await rejectsWith(store.rollApiKey(org.id, keys[1]!.id, apiKeyInput('r'), 60_000, CLI_ACTOR), 'API_KEY_LIMIT_REACHED');
        // A roll with no grace replaces the key in place, so it fits.
        const { replacement } = await store.rollApiKey(org.id, keys[1]!.id, apiKeyInput('r'), 0, CLI_ACTOR);
        assert.equal(replacement.status, 'active');
        assert.equal((await store.listApiKeys(org.id)).totalFiltered, 5);
        // Keys of another org do not count.
        const other = await orgWithKey('globex');
        await store.createApiKey(other.org.id, apiKeyInput('x'), CLI_ACTOR);
      });

      it('restores a revoked key within the window, not after', async () => {
        const { org, admin, key } = await orgWithKey('acme');
        const a = await store.createApiKey(org.id, apiKeyInput('a'), CLI_ACTOR);
        const b = await store.createApiKey(org.id, apiKeyInput('b'), CLI_ACTOR);
        await rejectsWith(store.restoreApiKey(org.id, a.id, CLI_ACTOR), 'API_KEY_NOT_REVOKED');
        await store.revokeApiKey(org.id, a.id, CLI_ACTOR);
        await store.revokeApiKey(org.id, b.id, CLI_ACTOR);
        tick(7 * DAY);
        const restored = await store.restoreApiKey(org.id, a.id, userActor(admin));
        assert.equal(restored.status, 'active');
        assert.equal(restored.revokedAt, null);
        assert.equal(restored.revokedBy, null);
        assert.equal(restored.modifiedBy, admin.id);
        assert.deepEqual(await store.getApiKey(org.id, a.id), restored);
        tick(1);
        await rejectsWith(store.restoreApiKey(org.id, b.id, CLI_ACTOR), 'RESTORE_WINDOW_PASSED');
        assert.equal((await store.getApiKey(org.id, b.id))?.status, 'revoked');
        await rejectsWith(store.restoreApiKey((await store.createOrg('other', CLI_ACTOR)).id, a.id, CLI_ACTOR), 'API_KEY_NOT_FOUND');
        assert.equal((await store.listAuditEvents(org.id, { action: 'api_key.restore' })).totalFiltered, 1);
        assert.ok(key);
      });

      it('rolls: old key expires after the grace, never later than it already did; grace 0 revokes', async () => {
        const { org, admin, key } = await orgWithKey('acme');
        const { previous, replacement } = await store.rollApiKey(org.id, key.id, apiKeyInput('next'), DAY, userActor(admin));
        assert.equal(previous.id, key.id);
        assert.equal(previous.status, 'active');
        assert.equal(previous.expiresAt?.getTime(), START + DAY);
        assert.equal(replacement.name, 'next');
        assert.equal(replacement.rolledFromId, key.id);
        assert.equal(replacement.expiresAt, null);
        assert.equal(replacement.createdBy, admin.id);
        assert.deepEqual(await store.getApiKey(org.id, key.id), previous);
        assert.deepEqual(await store.findApiKeyByHash(replacement.hash), replacement);

        tick(1000);
        const longer = await store.rollApiKey(org.id, key.id, apiKeyInput('third'), 10 * DAY, CLI_ACTOR);
        assert.equal(longer.previous.expiresAt?.getTime(), START + DAY, 'a roll never extends a key');
        assert.equal(longer.replacement.name, 'third');
        const shorter = await store.rollApiKey(org.id, key.id, { hash: apiKeyInput('').hash, last4: 'abcd' }, 60_000, CLI_ACTOR);
        assert.equal(shorter.previous.expiresAt?.getTime(), clock.ms + 60_000);
        assert.equal(shorter.replacement.name, 'first', 'the replacement keeps the name by default');

        // The expiring key is not a witness of the invariant: the permanent keys are.
        const zero = await store.rollApiKey(org.id, replacement.id, apiKeyInput('now'), 0, CLI_ACTOR);
        assert.equal(zero.previous.status, 'revoked');
        assert.equal(zero.previous.revokedAt?.getTime(), clock.ms);
        await rejectsWith(store.rollApiKey(org.id, replacement.id, apiKeyInput('x'), DAY, CLI_ACTOR), 'API_KEY_REVOKED');
        await rejectsWith(store.rollApiKey(org.id, key.id, apiKeyInput('x'), -1, CLI_ACTOR), 'BAD_REQUEST');
        await store.revokeApiKey(org.id, key.id, CLI_ACTOR); // expiring: other permanent keys remain
        const rolls = await store.listAuditEvents(org.id, { action: 'api_key.roll' });
        assert.equal(rolls.totalFiltered, 4);
        assert.equal(rolls.items.at(-1)!.details.replacement_id, replacement.id);
      });

      it('keeps one permanent key: revoking the last non-expiring key fails even with expiring ones left', async () => {
        const { org, key } = await orgWithKey('acme');
        const { replacement } = await store.rollApiKey(org.id, key.id, apiKeyInput('next'), DAY, CLI_ACTOR);
        await rejectsWith(store.revokeApiKey(org.id, replacement.id, CLI_ACTOR), 'LAST_ACTIVE_API_KEY');
        await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
      });

      it('keeps remote_config_read_enabled and category (migration 008): create, update, filter, roll, audit', async () => {
        const { org, admin, key } = await orgWithKey('acme');
        assert.equal(key.remoteConfigReadEnabled, false, 'off unless asked');
        assert.equal(key.category, 'default');
        tick();
        const rc = await store.createApiKey(org.id, { ...apiKeyInput('rc'), remoteConfigReadEnabled: true, category: 'ci' }, CLI_ACTOR);
        assert.equal(rc.remoteConfigReadEnabled, true);
        assert.equal(rc.category, 'ci');
        assert.deepEqual(await store.getApiKey(org.id, rc.id), rc);
        await rejectsWith(store.createApiKey(org.id, { ...apiKeyInput('bad'), category: '' }, CLI_ACTOR), 'BAD_REQUEST');

        const names = async (query: Parameters<Store['listApiKeys']>[1]) => (await store.listApiKeys(org.id, query)).items.map((k) => k.name);
        assert.deepEqual(await names({ remoteConfigReadEnabled: true }), ['rc']);
        assert.deepEqual(await names({ remoteConfigReadEnabled: false }), ['first']);
        assert.deepEqual(await names({ category: 'ci' }), ['rc']);
        assert.deepEqual(await names({ category: 'default', remoteConfigReadEnabled: true }), []);

        tick();
        const changed = await store.updateApiKey(org.id, key.id, { remoteConfigReadEnabled: true, category: 'agents' }, userActor(admin));
        assert.deepEqual([changed.name, changed.remoteConfigReadEnabled, changed.category], ['first', true, 'agents']);
        assert.equal(changed.modifiedAt.getTime(), clock.ms);
        assert.deepEqual(await store.getApiKey(org.id, key.id), changed);
        assert.deepEqual(await names({ remoteConfigReadEnabled: true }), ['first', 'rc']);
        const [update] = (await store.listAuditEvents(org.id, { action: 'api_key.update' })).items;
        assert.deepEqual(update!.details, {
          remote_config_read_enabled: { from: false, to: true },
          category: { from: 'default', to: 'agents' },
          last4: key.last4,
        });
        await rejectsWith(store.updateApiKey(org.id, key.id, { category: 'x'.repeat(101) }, CLI_ACTOR), 'BAD_REQUEST');

        const { replacement } = await store.rollApiKey(org.id, key.id, apiKeyInput('next'), DAY, CLI_ACTOR);
        assert.deepEqual([replacement.remoteConfigReadEnabled, replacement.category], [true, 'agents'], 'a roll keeps the settings');
        await store.revokeApiKey(org.id, rc.id, CLI_ACTOR);
        await rejectsWith(store.updateApiKey(org.id, rc.id, { remoteConfigReadEnabled: false }, CLI_ACTOR), 'API_KEY_REVOKED');
      });
    });

    describe('application keys', () => {
      it('creates, lists, updates and deletes, scoped to the org and owner', async () => {
        const { org, admin } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        const bob = await store.createUser(org.id, { email: 'bob@acme.example', name: 'Bob', role: 'standard', passwordHash: 'p' }, CLI_ACTOR);
        const a = await store.createAppKey(org.id, admin.id, appKeyInput('Deploy bot'), userActor(admin));
        tick();
        const b = await store.createAppKey(org.id, bob.id, appKeyInput('terraform', ['api_keys_read']), userActor(bob));
        assert.equal(a.ownerId, admin.id);
        assert.equal(a.scopes, null);
        assert.deepEqual(b.scopes, ['api_keys_read']);
        assert.deepEqual(await store.getAppKey(org.id, a.id), a);
        assert.equal(await store.getAppKey(other.org.id, a.id), undefined);
        assert.deepEqual(await store.findAppKeyByHash(b.hash), b);
        await rejectsWith(store.createAppKey(org.id, other.admin.id, appKeyInput('x'), CLI_ACTOR), 'USER_NOT_FOUND');
        await rejectsWith(store.createAppKey(org.id, admin.id, appKeyInput(' '), CLI_ACTOR), 'INVALID_NAME');

        assert.deepEqual(
          (await store.listAppKeys(org.id)).items.map((k) => k.id),
          [a.id, b.id],
        );
        assert.deepEqual(
          (await store.listAppKeys(org.id, { ownerId: bob.id })).items.map((k) => k.id),
          [b.id],
        );
        assert.deepEqual(
          (await store.listAppKeys(org.id, { filter: 'DEPLOY' })).items.map((k) => k.id),
          [a.id],
        );
        assert.deepEqual(
          (await store.listAppKeys(org.id, { sort: { field: 'name', direction: 'desc' } })).items.map((k) => k.id),
          [b.id, a.id],
        );
        assert.deepEqual(
          (await store.listAppKeys(org.id, { createdAt: { start: new Date(START + 1) } })).items.map((k) => k.id),
          [b.id],
        );
        const paged = await store.listAppKeys(org.id, { page: { size: 1, number: 1 } });
        assert.deepEqual([paged.items.map((k) => k.id), paged.totalFiltered], [[b.id], 2]);
        assert.equal((await store.listAppKeys(other.org.id)).totalFiltered, 0);

        tick();
        const updated = await store.updateAppKey(org.id, b.id, { name: 'tf', scopes: null }, userActor(bob));
        assert.equal(updated.name, 'tf');
        assert.equal(updated.scopes, null);
        assert.equal(updated.modifiedAt.getTime(), clock.ms);
        assert.deepEqual(await store.getAppKey(org.id, b.id), updated);
        await rejectsWith(store.updateAppKey(other.org.id, b.id, { name: 'x' }, CLI_ACTOR), 'APP_KEY_NOT_FOUND');
        await rejectsWith(store.deleteAppKey(other.org.id, b.id, CLI_ACTOR), 'APP_KEY_NOT_FOUND');
        await store.deleteAppKey(org.id, b.id, userActor(bob));
        assert.equal(await store.getAppKey(org.id, b.id), undefined);
        assert.equal(await store.findAppKeyByHash(b.hash), undefined);
        await rejectsWith(store.deleteAppKey(org.id, b.id, CLI_ACTOR), 'APP_KEY_NOT_FOUND');
        const actions = (await store.listAuditEvents(org.id)).items.map((e) => e.action).filter((x) => x.startsWith('app_key'));
        assert.deepEqual(actions, ['app_key.delete', 'app_key.update', 'app_key.create', 'app_key.create']);
      });

      it('finds an application key with its owner in one read, as management authentication does', async () => {
        const { org, admin } = await orgWithKey('acme');
        const bob = await store.createUser(org.id, { email: 'bob@acme.example', name: 'Bob', role: 'standard', passwordHash: 'p' }, CLI_ACTOR);
        const key = await store.createAppKey(org.id, bob.id, appKeyInput('terraform', ['api_keys_read']), userActor(admin));
        assert.deepEqual(await store.findAppKeyWithOwnerByHash(key.hash), { appKey: key, owner: await store.getUser(org.id, bob.id) });
        assert.equal(await store.findAppKeyWithOwnerByHash('0'.repeat(64)), undefined);
        // The owner as it is now: disabling bob shows in the next read (and disables his key).
        await store.setUserDisabled(org.id, bob.id, true, userActor(admin));
        const found = await store.findAppKeyWithOwnerByHash(key.hash);
        assert.deepEqual(found?.owner, await store.getUser(org.id, bob.id));
        assert.equal(found?.owner?.disabled, true);
        assert.deepEqual(found?.appKey, await store.getAppKey(org.id, key.id));
      });
    });

    describe('audit', () => {
      it('records non-store events and lists newest first with filters and paging', async () => {
        const { org, admin } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        tick(DAY);
        await store.recordAudit(org.id, 'user.login', { type: 'user', id: admin.id }, userActor(admin), { method: 'password' });
        tick(DAY);
        await store.recordAudit(org.id, 'user.login_failed', { type: 'user', id: null }, { userId: null, kind: 'user', sourceIp: '198.51.100.1' });
        const all = await store.listAuditEvents(org.id);
        assert.equal(all.totalFiltered, 5);
        assert.deepEqual(
          all.items.slice(0, 2).map((e) => e.action),
          ['user.login_failed', 'user.login'],
        );
        const login = all.items[1]!;
        assert.deepEqual(
          { ...login, id: undefined },
          {
            id: undefined,
            orgId: org.id,
            actorId: admin.id,
            actorKind: 'user',
            action: 'user.login',
            targetType: 'user',
            targetId: admin.id,
            sourceIp: '192.0.2.7',
            at: new Date(START + DAY),
            details: { method: 'password' },
          },
        );
        assert.deepEqual(
          (await store.listAuditEvents(org.id, { action: 'user.login' })).items.map((e) => e.id),
          [login.id],
        );
        const window = await store.listAuditEvents(org.id, { from: new Date(START + 1), to: new Date(START + DAY) });
        assert.deepEqual(
          window.items.map((e) => e.id),
          [login.id],
        );
        const page = await store.listAuditEvents(org.id, { page: { size: 3, number: 1 } });
        assert.deepEqual(
          page.items.map((e) => e.action),
          ['user.create', 'org.create'],
        );
        assert.equal(page.totalFiltered, 5);
        assert.equal((await store.listAuditEvents(other.org.id)).totalFiltered, 3);
      });
    });

    describe('key usage', () => {
      it('merges batches per key and host: first seen min, last seen max, points summed, last used updated', async () => {
        const { org, key } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        const t = (s: number) => new Date(START + s * 1000);
        await store.recordKeyUsage([
          { keyId: key.id, host: 'web-1', firstSeen: t(10), lastSeen: t(20), points: 5, agentVersion: '7.50.0' },
          { keyId: key.id, host: 'web-2', firstSeen: t(15), lastSeen: t(15), points: 1 },
          { keyId: key.id, host: 'web-1', firstSeen: t(5), lastSeen: t(12), points: 2 },
        ]);
        await store.recordKeyUsage([
          { keyId: key.id, host: 'web-1', firstSeen: t(8), lastSeen: t(30), points: 10 },
          { keyId: key.id, host: 'web-2', firstSeen: t(1), lastSeen: t(2), points: 4, agentVersion: '7.51.0' },
        ]);
        await store.recordKeyUsage([]);
        const hosts = await store.listKeyHosts(org.id, key.id);
        assert.deepEqual(hosts, [
          { keyId: key.id, host: 'web-1', firstSeen: t(5), lastSeen: t(30), points: 17, agentVersion: '7.50.0' },
          { keyId: key.id, host: 'web-2', firstSeen: t(1), lastSeen: t(15), points: 5, agentVersion: '7.51.0' },
        ]);
        assert.deepEqual(
          (await store.listKeyHosts(org.id, key.id, t(20))).map((h) => h.host),
          ['web-1'],
        );
        assert.equal((await store.getApiKey(org.id, key.id))?.lastUsedAt?.getTime(), t(30).getTime());
        await store.recordKeyUsage([{ keyId: key.id, host: 'web-3', firstSeen: t(3), lastSeen: t(4), points: 1 }]);
        assert.equal((await store.getApiKey(org.id, key.id))?.lastUsedAt?.getTime(), t(30).getTime(), 'never moves back');
        await rejectsWith(store.listKeyHosts(other.org.id, key.id), 'API_KEY_NOT_FOUND');
        assert.deepEqual(await store.listKeyHosts(other.org.id, other.key.id), []);
      });

      it('lists the usage of all keys of an org in one call: any status, newest first, never another org’s, since-filter', async () => {
        const { org, key } = await orgWithKey('acme');
        const second = await store.createApiKey(org.id, apiKeyInput('second'), CLI_ACTOR);
        const revoked = await store.createApiKey(org.id, apiKeyInput('old'), CLI_ACTOR);
        const other = await orgWithKey('globex');
        const t = (s: number) => new Date(START + s * 1000);
        assert.deepEqual(await store.listOrgKeyHosts(org.id), [], 'no usage yet');
        await store.recordKeyUsage([
          { keyId: key.id, host: 'web-1', firstSeen: t(10), lastSeen: t(40), points: 5, agentVersion: '7.50.0' },
          { keyId: key.id, host: 'web-2', firstSeen: t(15), lastSeen: t(15), points: 1 },
          { keyId: second.id, host: 'web-1', firstSeen: t(1), lastSeen: t(30), points: 3, agentVersion: '7.49.0' },
          { keyId: second.id, host: 'db-1', firstSeen: t(20), lastSeen: t(40), points: 2 },
          { keyId: revoked.id, host: 'old-1', firstSeen: t(2), lastSeen: t(5), points: 7 },
          { keyId: other.key.id, host: 'web-1', firstSeen: t(1), lastSeen: t(50), points: 9, agentVersion: '7.52.0' },
          { keyId: other.key.id, host: 'globex-only', firstSeen: t(1), lastSeen: t(45), points: 4 },
        ]);
        await store.revokeApiKey(org.id, revoked.id, CLI_ACTOR);

        assert.deepEqual(await store.listOrgKeyHosts(org.id), [
          { keyId: second.id, host: 'db-1', firstSeen: t(20), lastSeen: t(40), points: 2, agentVersion: null },
          { keyId: key.id, host: 'web-1', firstSeen: t(10), lastSeen: t(40), points: 5, agentVersion: '7.50.0' },
          { keyId: second.id, host: 'web-1', firstSeen: t(1), lastSeen: t(30), points: 3, agentVersion: '7.49.0' },
          { keyId: key.id, host: 'web-2', firstSeen: t(15), lastSeen: t(15), points: 1, agentVersion: null },
          { keyId: revoked.id, host: 'old-1', firstSeen: t(2), lastSeen: t(5), points: 7, agentVersion: null },
        ]);
        // The same rows as asking key by key.
        for (const k of [key, second, revoked]) {
          assert.deepEqual(
            (await store.listOrgKeyHosts(org.id)).filter((u) => u.keyId === k.id),
            await store.listKeyHosts(org.id, k.id),
          );
        }
        // `since` is inclusive and applies to last seen.
        assert.deepEqual(
          (await store.listOrgKeyHosts(org.id, t(30))).map((u) => `${u.keyId === key.id ? 'first' : 'second'}/${u.host}`),
          ['second/db-1', 'first/web-1', 'second/web-1'],
        );
        assert.deepEqual(await store.listOrgKeyHosts(org.id, t(41)), []);
        assert.deepEqual(
          (await store.listOrgKeyHosts(other.org.id)).map((u) => [u.keyId, u.host]),
          [
            [other.key.id, 'web-1'],
            [other.key.id, 'globex-only'],
          ],
        );
        assert.deepEqual(await store.listOrgKeyHosts('00000000-0000-0000-0000-000000000000'), [], 'an unknown org has no usage');
      });
    });

    describe('key usage per minute and key limits (migration 009)', () => {
      const minute = (m: number) => new Date(START + m * 60_000);

      it('sums minutes from several writers (hosts: the largest), lists a range oldest first, scoped to the org, and deletes by age', async () => {
        const { org, key } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        await store.recordKeyUsageMinutes([
          { keyId: key.id, minute: minute(1), requests: 3, bytes: 300, points: 30, hosts: 2 },
          { keyId: key.id, minute: minute(2), requests: 1, bytes: 100, points: 0, hosts: 1 },
          { keyId: key.id, minute: minute(1), requests: 1, bytes: 50, points: 5, hosts: 1 },
          { keyId: other.key.id, minute: minute(1), requests: 9, bytes: 9, points: 9, hosts: 9 },
        ]);
        // A second node's flush of the same minute: added, hosts kept at the larger count.
        const node2 = await db.openAnother();
        await node2.recordKeyUsageMinutes([{ keyId: key.id, minute: minute(1), requests: 2, bytes: 5_000_000_000, points: 1, hosts: 4 }]);
        await store.recordKeyUsageMinutes([]);
        assert.deepEqual(await store.listKeyUsageMinutes(org.id, key.id, { from: minute(0), to: minute(10) }), [
          { keyId: key.id, minute: minute(1), requests: 6, bytes: 5_000_000_350, points: 36, hosts: 4 },
          { keyId: key.id, minute: minute(2), requests: 1, bytes: 100, points: 0, hosts: 1 },
        ]);
        assert.deepEqual(
          (await store.listKeyUsageMinutes(org.id, key.id, { from: minute(2), to: minute(2) })).map((m) => m.requests),
          [1],
          'both ends inclusive',
        );
        await rejectsWith(store.listKeyUsageMinutes(other.org.id, key.id, { from: minute(0), to: minute(10) }), 'API_KEY_NOT_FOUND');
        await assert.rejects(
          store.recordKeyUsageMinutes([{ keyId: key.id, minute: new Date(START + 1), requests: 1, bytes: 1, points: 0, hosts: 0 }]),
          /whole minute/,
        );
        // Every node's writes, as the intake's limits count them: one minute's points, the bytes from a day's start on.
        const totals = await node2.keyUsageTotals([key.id, other.key.id, '00000000-0000-0000-0000-000000000000'], { minute: minute(1), dayStart: minute(0) });
        assert.deepEqual(
          [...totals].sort(([a], [b]) => a.localeCompare(b)),
          [
            [key.id, { minutePoints: 36, dayBytes: 5_000_000_450 }],
            [other.key.id, { minutePoints: 9, dayBytes: 9 }],
          ].sort(([a], [b]) => String(a).localeCompare(String(b))),
        );
        // The next UTC day counts its own bytes only; a minute without points counts 0 points.
        const nextDay = new Date(START + 86_400_000);
        await node2.recordKeyUsageMinutes([{ keyId: key.id, minute: new Date(nextDay.getTime() + 60_000), requests: 1, bytes: 7, points: 0, hosts: 1 }]);
        assert.deepEqual((await store.keyUsageTotals([key.id], { minute: minute(3), dayStart: nextDay })).get(key.id), { minutePoints: 0, dayBytes: 7 });
        assert.deepEqual((await store.keyUsageTotals([key.id], { minute: minute(2), dayStart: minute(0) })).get(key.id)?.dayBytes, 5_000_000_450);
        await assert.rejects(store.keyUsageTotals([key.id], { minute: minute(3), dayStart: minute(2) }), /start of a UTC day/);
        assert.equal(await store.deleteKeyUsageMinutesBefore(minute(2)), 2);
        assert.deepEqual(
          (await store.keyUsageTotals([key.id], { minute: minute(2), dayStart: minute(0) })).get(key.id)?.dayBytes,
          5_000_000_450,
          "a day not over by the cutoff keeps its bytes (the limits read today's)",
        );
        assert.equal(await store.deleteKeyUsageMinutesBefore(nextDay), 1);
        assert.equal(
          (await store.keyUsageTotals([key.id], { minute: minute(2), dayStart: minute(0) })).get(key.id),
          undefined,
          'the day went with its minutes',
        );
        assert.equal((await store.keyUsageTotals([key.id], { minute: minute(3), dayStart: nextDay })).get(key.id)?.dayBytes, 7);
        assert.deepEqual(
          (await store.listKeyUsageMinutes(org.id, key.id, { from: minute(0), to: minute(10) })).map((m) => m.minute.getTime()),
          [],
        );
      });

      it("sets, replaces and clears a key's limits, audited; every node lists them; refuses bad values and other orgs' keys", async () => {
        const { org, admin, key } = await orgWithKey('acme');
        const other = await orgWithKey('globex');
        const none = { requestsPerSecond: null, pointsPerMinute: null, bytesPerDay: null };
        assert.deepEqual(await store.getApiKeyLimits(org.id, key.id), none);
        const set = { requestsPerSecond: 5, pointsPerMinute: null, bytesPerDay: 10_000_000_000 };
        assert.deepEqual(await store.setApiKeyLimits(org.id, key.id, set, userActor(admin)), set);
        assert.deepEqual(await store.getApiKeyLimits(org.id, key.id), set);
        const node2 = await db.openAnother();
        assert.deepEqual(await node2.listApiKeyLimits(), [{ keyId: key.id, orgId: org.id, ...set, updatedAt: new Date(clock.ms), updatedBy: admin.id }]);
        tick();
        await store.setApiKeyLimits(org.id, key.id, { requestsPerSecond: null, pointsPerMinute: 1000, bytesPerDay: null }, CLI_ACTOR);
        assert.deepEqual(
          (await store.listApiKeyLimits()).map((l) => [l.requestsPerSecond, l.pointsPerMinute, l.bytesPerDay]),
          [[null, 1000, null]],
        );
        await store.setApiKeyLimits(org.id, key.id, none, CLI_ACTOR);
        assert.deepEqual(await store.listApiKeyLimits(), [], 'all null: no row');
        assert.deepEqual(await store.getApiKeyLimits(org.id, key.id), none);
        const events = (await store.listAuditEvents(org.id, { action: 'api_key.limits' })).items;
        assert.equal(events.length, 3);
        assert.deepEqual(events[2]!.details, set);
        assert.equal(events[2]!.targetId, key.id);
        await rejectsWith(store.setApiKeyLimits(other.org.id, key.id, set, CLI_ACTOR), 'API_KEY_NOT_FOUND');
        await rejectsWith(store.getApiKeyLimits(other.org.id, key.id), 'API_KEY_NOT_FOUND');
        await rejectsWith(store.setApiKeyLimits(org.id, key.id, { ...set, requestsPerSecond: 0 }, CLI_ACTOR), 'BAD_REQUEST');
        await rejectsWith(store.setApiKeyLimits(org.id, key.id, { ...set, pointsPerMinute: 1.5 }, CLI_ACTOR), 'BAD_REQUEST');
      });
    });

    describe('key-change feed', () => {
      it('tells this process after commit and before the change resolves', async () => {
        const { org, key } = await orgWithKey('acme');
        const second = await store.createApiKey(org.id, apiKeyInput('second'), CLI_ACTOR);
        const heard: KeyChange[] = [];
        let resets = 0;
        const stop = await store.watchKeyChanges({ onChange: (c) => heard.push(c), onReset: () => resets++ });
        await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
        assert.deepEqual(heard, [{ keyId: key.id, hash: key.hash, orgId: org.id }], 'heard before revoke resolved');
        await store.restoreApiKey(org.id, key.id, CLI_ACTOR);
        await store.rollApiKey(org.id, second.id, apiKeyInput('r'), DAY, CLI_ACTOR);
        assert.deepEqual(
          heard.map((c) => c.keyId),
          [key.id, key.id, second.id],
        );
        // Failed and no-op changes announce nothing.
        await store.renameApiKey(org.id, key.id, 'renamed', CLI_ACTOR);
        await store.createApiKey(org.id, apiKeyInput('third'), CLI_ACTOR);
        assert.equal(heard.length, 3);
        await stop();
        await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
        assert.equal(heard.length, 3, 'stopped');
        assert.equal(resets, 0);
      });

      it('a second store on the same database hears a revocation when it spans nodes', { skip: false }, async (t) => {
        const { org, key } = await orgWithKey('acme');
        await store.createApiKey(org.id, apiKeyInput('second'), CLI_ACTOR);
        const node2 = await db.openAnother();
        const heard: KeyChange[] = [];
        const stop = await node2.watchKeyChanges({ onChange: (c) => heard.push(c), onReset: () => {} });
        t.after(stop);
        await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
        if (dialect.name === 'postgres') {
          await waitFor(() => heard.length > 0, 'the NOTIFY on the second store');
          assert.deepEqual(heard, [{ keyId: key.id, hash: key.hash, orgId: org.id }]);
        } else {
          // SQLite serves one machine and one server process: nothing crosses store instances.
          await new Promise((resolve) => setTimeout(resolve, 100));
          assert.deepEqual(heard, []);
        }
      });
    });

    if (dialect.name === 'postgres') {
      describe('LISTEN connection', () => {
        it('resets listeners when it drops, reconnects, and hears changes again', async (t) => {
          const { org, key } = await orgWithKey('acme');
          const second = await store.createApiKey(org.id, apiKeyInput('second'), CLI_ACTOR);
          const node2 = await db.openAnother();
          const heard: string[] = [];
          let resets = 0;
          const stop = await node2.watchKeyChanges({ onChange: (c) => heard.push(c.keyId), onReset: () => resets++ });
          t.after(stop);
          const killed = await sql<{ n: number }>`
            select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
            where datname = current_database() and query ilike 'LISTEN%'`.execute(store.sharedTables().db);
          assert.equal(killed.rows[0]!.n, 1, 'one LISTEN connection (the second store has the only listener)');
          await waitFor(() => resets >= 1, 'onReset after the connection dropped');
          await waitFor(() => resets >= 2, 'the second onReset once reconnected', 10_000);
          await store.revokeApiKey(org.id, key.id, CLI_ACTOR);
          await waitFor(() => heard.length === 1, 'a change heard after reconnecting');
          assert.deepEqual(heard, [key.id]);
          assert.ok(second);
        });
      });
    }

    describe('bootstrap', () => {
      it('initialises an empty store once, atomically, even when several stores race', async () => {
        const nodes = [store, await db.openAnother(), await db.openAnother()];
        const results = await Promise.allSettled(nodes.map((node, i) => bootstrapDeployment(node, hasher, { orgName: `org ${i}`, where: `node ${i}` })));
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(isRekeyError(r.reason, 'ALREADY_INITIALISED'), String(r.reason));
        }
        const credentials = (won[0] as PromiseFulfilledResult<BootstrapCredentials>).value;
        const orgs = await store.listOrgs();
        assert.deepEqual(
          orgs.map((o) => [o.id, o.name]),
          [[credentials.org.id, credentials.org.name]],
        );
        const apiKey = await store.findApiKeyByHash(hasher.hash(credentials.api_key.key));
        assert.equal(apiKey?.id, credentials.api_key.id);
        assert.equal(apiKey?.last4, credentials.api_key.key.slice(-4));
        assert.ok(parseKey(credentials.api_key.key, 'api').ok);
        const appKey = await store.findAppKeyByHash(hasher.hash(credentials.app_key.key));
        assert.equal(appKey?.id, credentials.app_key.id);
        const admin = await store.findUserByEmail(credentials.admin.email);
        assert.equal(admin?.role, 'admin');
        assert.equal(appKey?.ownerId, admin?.id);
        assert.ok(await verifyPassword(credentials.admin.password, admin!.passwordHash));
        const actions = (await store.listAuditEvents(credentials.org.id)).items.map((e) => e.action).sort();
        assert.deepEqual(actions, ['api_key.create', 'app_key.create', 'org.create', 'user.create']);
        await assert.rejects(bootstrapDeployment(store, hasher, { where: '/srv/rekey' }), /\/srv\/rekey is already initialised/);
        assert.equal((await store.listOrgs()).length, 1);
      });
    });

    describe('deployment secret', () => {
      it('is at least 16 bytes and the same for every store on the database', async () => {
        const secret = await store.deploymentSecret();
        assert.ok(secret.length >= 16);
        const node2 = await db.openAnother();
        assert.deepEqual(await node2.deploymentSecret(), secret);
        assert.deepEqual(await store.deploymentSecret(), secret);
      });
    });

    describe('relay upstreams (migration 007)', () => {
      it("sets, replaces and lists an org's upstream, audited without the key; another node sees it; an unknown org is ORG_NOT_FOUND", async () => {
        const { org } = await orgWithKey('relayed');
        const other = await orgWithKey('standalone');
        assert.equal(await store.getUpstream(org.id), undefined);
        const cipher = new UpstreamKeyCipher(await store.deploymentSecret());
        const first = await store.setUpstream(
          org.id,
          {
            mode: 'relay',
            site: 'datadoghq.eu',
            urls: { metrics: null, logs: 'http://logs.example', traces: null },
            encryptedApiKey: cipher.encrypt(org.id, 'upstream-key-0001'),
            apiKeyLast4: '0001',
          },
          CLI_ACTOR,
        );
        assert.equal(first.mode, 'relay');
        assert.equal(first.updatedAt.getTime(), clock.ms);
        tick();
        await store.setUpstream(
          org.id,
          {
            mode: 'standalone',
            site: 'http://10.0.0.1:8080',
            urls: { metrics: null, logs: null, traces: null },
            encryptedApiKey: cipher.encrypt(org.id, 'upstream-key-0002'),
            apiKeyLast4: '0002',
          },
          CLI_ACTOR,
        );
        const node2 = await db.openAnother();
        const seen = await node2.getUpstream(org.id);
        assert.equal(seen?.mode, 'standalone');
        assert.equal(seen?.site, 'http://10.0.0.1:8080');
        assert.deepEqual(seen?.urls, { metrics: null, logs: null, traces: null });
        assert.equal(cipher.decrypt(org.id, seen!.encryptedApiKey), 'upstream-key-0002');
        assert.throws(() => cipher.decrypt(other.org.id, seen!.encryptedApiKey), /cannot be decrypted/, 'bound to its organisation');
        assert.deepEqual(
          (await store.listUpstreams()).map((u) => u.orgId),
          [org.id],
        );
        const events = (await store.listAuditEvents(org.id, { action: 'upstream.set' })).items;
        assert.equal(events.length, 2);
        assert.deepEqual(events[0]!.details, { site: 'http://10.0.0.1:8080', mode: 'standalone', last4: '0002' });
        assert.doesNotMatch(JSON.stringify(events), /upstream-key/);
        await rejectsWith(
          store.setUpstream(
            'no-such-org',
            { mode: 'relay', site: 'datadoghq.com', urls: { metrics: null, logs: null, traces: null }, encryptedApiKey: 'v1:x', apiKeyLast4: 'xxxx' },
            CLI_ACTOR,
          ),
          'ORG_NOT_FOUND',
        );
      });
    });

    describe('relay node heartbeats (migration 012)', () => {
      it("upserts a node's report per organisation, replaces what it left out, lists by org with ages, forgets a node and nodes gone an hour", async () => {
        // Every report is recorded with the database's time, and listed with its age by that clock.
        const rows = (orgId: string) => store.listRelayNodeUpstreams(orgId).then((list) => list.map((r) => [r.nodeId, r.orgId, r.version, r.pollMs]));
        await store.reportRelayNodeUpstreams(
          { id: 'node-a', pollMs: 2000 },
          [
            { orgId: 'org-1', version: 'v1' },
            { orgId: 'org-2', version: 'w1' },
          ],
          { backdateMs: 30_000 },
        );
        await store.reportRelayNodeUpstreams({ id: 'node-b', pollMs: 30_000 }, [{ orgId: 'org-1', version: 'v1' }]);
        assert.deepEqual(await rows('org-1'), [
          ['node-a', 'org-1', 'v1', 2000],
          ['node-b', 'org-1', 'v1', 30_000],
        ]);
        const [a, b] = await store.listRelayNodeUpstreams('org-1');
        assert.ok(a!.ageMs >= 30_000 && a!.ageMs < 40_000, `node-a reported 30 s ago: ${a!.ageMs} ms`);
        assert.ok(b!.ageMs >= 0 && b!.ageMs < 10_000, `node-b reported just now: ${b!.ageMs} ms`);
        assert.ok(Math.abs(a!.reportedAt.getTime() + a!.ageMs - (b!.reportedAt.getTime() + b!.ageMs)) < 1000, 'one database clock for both rows');
        // node-a switches org-1 to v2 and no longer holds org-2; another store (node) reads it.
        await store.reportRelayNodeUpstreams({ id: 'node-a', pollMs: 2000 }, [{ orgId: 'org-1', version: 'v2' }]);
        const other = await db.openAnother();
        assert.deepEqual(
          (await other.listRelayNodeUpstreams('org-1')).map((r) => [r.nodeId, r.version]),
          [
            ['node-a', 'v2'],
            ['node-b', 'v1'],
          ],
        );
        assert.ok((await other.listRelayNodeUpstreams('org-1'))[0]!.ageMs < 10_000, "node-a's new report is young again");
        assert.deepEqual(await rows('org-2'), [], "an organisation left out of the node's report loses its row");
        assert.deepEqual(await rows('org-3'), []);
        // A report is idempotent; an empty one forgets the node.
        await store.reportRelayNodeUpstreams({ id: 'node-a', pollMs: 2000 }, [{ orgId: 'org-1', version: 'v2' }]);
        assert.equal((await rows('org-1')).length, 2);
        await store.reportRelayNodeUpstreams({ id: 'node-a', pollMs: 2000 }, []);
        assert.deepEqual(await rows('org-1'), [['node-b', 'org-1', 'v1', 30_000]]);
        // Any node's report deletes the rows of nodes silent for an hour after their live window of 3 poll
        // intervals (node-e's, 2 s polls, reported an hour and a minute ago); node-f polls every 30 min: live for 90.
        await store.reportRelayNodeUpstreams({ id: 'node-e', pollMs: 2000 }, [{ orgId: 'org-1', version: 'v1' }], { backdateMs: 61 * 60 * 1000 });
        await store.reportRelayNodeUpstreams({ id: 'node-f', pollMs: 30 * 60 * 1000 }, [{ orgId: 'org-1', version: 'v1' }], { backdateMs: 70 * 60 * 1000 });
        await store.reportRelayNodeUpstreams({ id: 'node-b', pollMs: 30_000 }, [{ orgId: 'org-1', version: 'v2' }]);
        assert.deepEqual(
          (await rows('org-1')).map((r) => r[0]),
          ['node-b', 'node-f'],
        );
        // Many organisations in one report (more than one insert chunk).
        const many = Array.from({ length: 1200 }, (_, i) => ({ orgId: `org-${String(i).padStart(4, '0')}`, version: `v${i}` }));
        await store.reportRelayNodeUpstreams({ id: 'node-d', pollMs: 2000 }, many);
        assert.deepEqual(
          (await rows('org-1199')).map((r) => [r[0], r[2]]),
          [['node-d', 'v1199']],
        );
        // More organisations than SQLite's 32,766 parameters (a `not in` list of them failed), then fewer: the rest are forgotten.
        const more = Array.from({ length: 33_000 }, (_, i) => ({ orgId: `org-${i}`, version: 'x' }));
        await store.reportRelayNodeUpstreams({ id: 'node-d', pollMs: 2000 }, more);
        assert.deepEqual(
          (await rows('org-32999')).map((r) => r[0]),
          ['node-d'],
        );
        await store.reportRelayNodeUpstreams({ id: 'node-d', pollMs: 2000 }, more.slice(0, 10));
        assert.deepEqual(await rows('org-32999'), []);
        assert.deepEqual(await rows('org-1199'), []);
        assert.deepEqual(
          (await rows('org-9')).map((r) => [r[0], r[2]]),
          [['node-d', 'x']],
        );
      });

      it("records a report with the database's time, not the store's clock or the reporting machine's", async () => {
        // This store's clock (`now`) is fixed at 2026-01-01: the heartbeat must not use it, nor any caller's
        // clock — the rotation judges a report's age by the database's clock alone (upstream-node-confirmation.ts).
        const before = Date.now();
        await store.reportRelayNodeUpstreams({ id: 'node-a', pollMs: 2000 }, [{ orgId: 'org-1', version: 'v1' }]);
        const after = Date.now();
        const t0 = Date.now();
        const [row] = await store.listRelayNodeUpstreams('org-1');
        // The database runs on this machine in the tests (SQLite; PostgreSQL on 127.0.0.1 or embedded), so its clock is this one.
        const reportedAt = row!.reportedAt.getTime();
        assert.ok(reportedAt >= before - 1000 && reportedAt <= after + 1000, `${row!.reportedAt.toISOString()} is now, not ${new Date(START).toISOString()}`);
        assert.ok(row!.ageMs >= 0 && row!.ageMs < 5000, `${row!.ageMs} ms`);
        // To the millisecond (the live window is 10 s; whole seconds made an age up to a second off).
        await new Promise((resolve) => setTimeout(resolve, 150));
        const [later] = await store.listRelayNodeUpstreams('org-1');
        const aged = later!.ageMs - row!.ageMs;
        assert.ok(aged >= 140 && aged <= Date.now() - t0 + 10, `aged ${aged} ms in ${Date.now() - t0} ms`);
      });

      if (dialect.name === 'postgres') {
        it("a repeated report rewrites only the node's heartbeat row, not its unchanged versions (PostgreSQL row versions, xmin)", async () => {
          const client = new pg.Client({ connectionString: db.location.databaseUrl });
          await client.connect();
          try {
            const reports = Array.from({ length: 100 }, (_, i) => ({ orgId: `org-${i}`, version: 'v1' }));
            const versionsOf = async () =>
              (
                await client.query<{ org_id: string; xmin: string }>(
                  "select org_id, xmin::text from relay_node_upstreams where node_id = 'node-x' order by org_id",
                )
              ).rows;
            const heartbeatOf = async () => (await client.query<{ xmin: string }>("select xmin::text from relay_nodes where node_id = 'node-x'")).rows[0]?.xmin;
            await store.reportRelayNodeUpstreams({ id: 'node-x', pollMs: 2000 }, reports);
            const [versions, heartbeat] = [await versionsOf(), await heartbeatOf()];
            await store.reportRelayNodeUpstreams({ id: 'node-x', pollMs: 2000 }, reports);
            assert.deepEqual(await versionsOf(), versions, 'no version row rewritten');
            assert.notEqual(await heartbeatOf(), heartbeat, 'the heartbeat row rewritten');
            // One organisation switches: its row alone is rewritten.
            await store.reportRelayNodeUpstreams({ id: 'node-x', pollMs: 2000 }, [...reports.slice(0, 99), { orgId: 'org-99', version: 'v2' }]);
            const after = await versionsOf();
            const rewritten = after.filter((row, i) => row.xmin !== versions[i]!.xmin).map((row) => row.org_id);
            assert.deepEqual(rewritten, ['org-99']);
          } finally {
            await client.end();
          }
        });
      }
    });
  });
}
