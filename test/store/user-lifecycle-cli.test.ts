/**
 * `rekey user disable|enable|delete|reset-password|set-password` as an operator runs them: the
 * real CLI in a child process, on SQLite and PostgreSQL; passwords only on stdin or stdout,
 * never in argv; each change audited with actor kind `cli`; the last enabled admin refused in
 * one line. And against a running `rekey server` on the same data directory: a CLI reset ends
 * the user's web session at its next request.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { verifyPassword } from '../../src/keys/password.js';
import { openStore, type StoreLocation } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { assertOneLineError, cleanEnv, tempDirs } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runRekey } from '../support/processes.js';
import { startServerProcess } from '../support/server-process.js';

const tempDir = tempDirs('rekey-user-cli-');

async function withOpenStore<T>(location: StoreLocation, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(location);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

interface Target {
  name: 'sqlite' | 'postgres';
  location: StoreLocation;
  /** `--data DIR` for SQLite; nothing for PostgreSQL (REKEY_DATABASE_URL in env). */
  args: string[];
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

/** SQLite runs every case; PostgreSQL the first (the store contract covers the rest on both). */
const TARGETS: Array<{ name: Target['name']; full: boolean; make: () => Promise<Target> }> = [
  {
    name: 'sqlite',
    full: true,
    make: async () => {
      const dir = join(tempDir(), 'data');
      return { name: 'sqlite', location: { dataDir: dir }, args: ['--data', dir], env: cleanEnv(), cleanup: async () => {} };
    },
  },
  {
    name: 'postgres',
    full: false,
    make: async () => {
      const database: TestDatabase = await createTestDatabase();
      return {
        name: 'postgres',
        location: { databaseUrl: database.url },
        args: [],
        env: cleanEnv({ REKEY_DATABASE_URL: database.url }),
        cleanup: () => database.drop(),
      };
    },
  },
];

for (const { name, full, make: makeTarget } of TARGETS) {
  describe(`rekey user lifecycle commands on ${name}`, () => {
    let target: Target;
    let adminEmail: string;
    let bobAppKeyId: string;
    const run = (args: string[], input?: string) => runRekey([...args, ...target.args], { env: target.env, ...(input === undefined ? {} : { input }) });

    before(async () => {
      target = await makeTarget();
      const init = await run(['init', '--json']);
      assert.equal(init.code, 0, init.stderr);
      adminEmail = (JSON.parse(init.stdout) as { admin: { email: string } }).admin.email;
      const bob = await run(['user', 'create', '--org', 'Default organization', '--email', 'bob@example.com', '--role', 'admin', '--json']);
      assert.equal(bob.code, 0, bob.stderr);
      // An application key for bob, as the API would create it.
      await withOpenStore(target.location, async (store) => {
        const user = (await store.findUserByEmail('bob@example.com'))!;
        const hasher = createKeyHasher(await store.deploymentSecret());
        const secret = generateKey('app');
        bobAppKeyId = (
          await store.createAppKey(
            user.orgId,
            user.id,
            { name: 'bob', hash: hasher.hash(secret), last4: last4(secret) },
            { userId: user.id, kind: 'user', sourceIp: null },
          )
        ).id;
      });
    });
    after(() => target?.cleanup());

    it('disable and enable (keys stay disabled unless --app-keys); the last enabled admin is refused in one line', async () => {
      const disabled = await run(['user', 'disable', '--email', 'BOB@example.com', '--json']);
      assert.equal(disabled.code, 0, disabled.stderr);
      assert.equal((JSON.parse(disabled.stdout) as { disabled: boolean }).disabled, true);
      assertOneLineError(await run(['user', 'disable', '--email', adminEmail]), 1, /last active admin\. Create or enable another admin/);
      if (full) {
        assertOneLineError(await run(['user', 'delete', '--email', adminEmail, '--yes']), 1, /last active admin/);
        assertOneLineError(await run(['user', 'disable', '--email', 'nobody@example.com']), 1, /^rekey: User not found$/);
      }

      const enabled = await run(['user', 'enable', '--email', 'bob@example.com']);
      assert.equal(enabled.code, 0, enabled.stderr);
      assert.match(enabled.stdout, /their application keys stay disabled/);
      await withOpenStore(target.location, async (store) => {
        const bob = (await store.findUserByEmail('bob@example.com'))!;
        assert.equal(bob.disabled, false);
        assert.notEqual((await store.getAppKey(bob.orgId, bobAppKeyId))?.disabledAt, null);
      });
      assert.equal((await run(['user', 'enable', '--email', 'bob@example.com', '--app-keys'])).code, 0);
      await withOpenStore(target.location, async (store) => {
        const bob = (await store.findUserByEmail('bob@example.com'))!;
        assert.equal((await store.getAppKey(bob.orgId, bobAppKeyId))?.disabledAt, null);
        const events = (await store.listAuditEvents(bob.orgId)).items.filter((e) => e.action === 'user.disable' || e.action === 'user.enable');
        assert.deepEqual(
          events.map((e) => [e.action, e.actorKind, e.targetId]),
          [
            ['user.enable', 'cli', bob.id],
            ['user.enable', 'cli', bob.id],
            ['user.disable', 'cli', bob.id],
          ],
        );
      });
      if (full) {
        // With bob enabled the admin is no longer the last: now it can be disabled.
        assert.equal((await run(['user', 'disable', '--email', adminEmail])).code, 0);
        assert.equal((await run(['user', 'enable', '--email', adminEmail])).code, 0);
      }
    });

    // The CLI's stdin and confirmation handling does not depend on the database: SQLite only.
    if (full)
      it('set-password reads stdin only (short: exit 2); reset-password shows a generated one once', async () => {
        const short = await run(['user', 'set-password', '--email', 'bob@example.com', '--password-stdin'], 'too short\n');
        assertOneLineError(short, 2, /has 9 characters; it needs at least 12/);
        assert.doesNotMatch(short.stderr, /too short/, 'the password is not in the error');
        const chosen = 'a long enough password';
        const set = await run(['user', 'set-password', '--email', 'bob@example.com', '--password-stdin'], `${chosen}\n`);
        assert.equal(set.code, 0, set.stderr);
        assert.doesNotMatch(set.stdout + set.stderr, new RegExp(chosen));
        const reset = await run(['user', 'reset-password', '--email', 'bob@example.com', '--json']);
        assert.equal(reset.code, 0, reset.stderr);
        const { password } = JSON.parse(reset.stdout) as { password: string };
        assert.equal(password.length, 24);
        const human = await run(['user', 'reset-password', '--email', 'bob@example.com']);
        const shown = /Password \(shown only this once\): (\S+)\n/.exec(human.stdout)?.[1];
        assert.ok(shown, human.stdout);
        await withOpenStore(target.location, async (store) => {
          const bob = (await store.findUserByEmail('bob@example.com'))!;
          assert.ok(await verifyPassword(shown, bob.passwordHash));
          assert.equal(await verifyPassword(password, bob.passwordHash), false);
          assert.notEqual((await store.getAppKey(bob.orgId, bobAppKeyId))?.disabledAt, null, 'a reset disables the app keys');
          const resets = (await store.listAuditEvents(bob.orgId, { action: 'user.password_reset' })).items;
          assert.equal(resets.length, 3);
          assert.doesNotMatch(JSON.stringify(resets), new RegExp(`${chosen}|${password}|${shown}|scrypt`));
        });
      });

    if (full)
      it('delete needs --yes, removes the user and their app keys, keeps the audit trail', async () => {
        assertOneLineError(await run(['user', 'delete', '--email', 'bob@example.com']), 2, /cannot be undone; add --yes/);
        const deleted = await run(['user', 'delete', '--email', 'bob@example.com', '--yes']);
        assert.equal(deleted.code, 0, deleted.stderr);
        await withOpenStore(target.location, async (store) => {
          assert.equal(await store.findUserByEmail('bob@example.com'), undefined);
          const org = (await store.listOrgs())[0]!;
          assert.equal(await store.getAppKey(org.id, bobAppKeyId), undefined);
          const actions = (await store.listAuditEvents(org.id)).items.map((e) => e.action);
          assert.ok(actions.includes('user.delete') && actions.includes('user.create') && actions.includes('app_key.create'));
        });
        assertOneLineError(await run(['user', 'delete', '--email', 'bob@example.com', '--yes']), 1, /User not found/);
      });
  });
}

describe('rekey user reset-password against a running server (SQLite)', () => {
  it("ends the user's web session at its next request", { timeout: 120_000 }, async () => {
    const dir = join(tempDir(), 'data');
    const server = await startServerProcess({ args: ['--data', dir, '--log-level', 'warn'], env: cleanEnv() });
    try {
      const { email, password } = server.credentials ?? {};
      assert.ok(email && password);
      const form = await fetch(`${server.url}/login`);
      const loginCookie = /rekey_login_csrf=([^;]+)/.exec(form.headers.getSetCookie().join('\n'))![1]!;
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const signedIn = await fetch(`${server.url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `rekey_login_csrf=${loginCookie}` },
        body: new URLSearchParams({ _csrf: csrf, email, password }).toString(),
      });
      assert.equal(signedIn.status, 303);
      const cookie = /rekey_session=[^;]+/.exec(signedIn.headers.getSetCookie().join('\n'))![0];
      assert.equal((await fetch(`${server.url}/keys`, { headers: { cookie }, redirect: 'manual' })).status, 200);

      const reset = await runRekey(['user', 'reset-password', '--email', email, '--data', dir, '--json'], { env: cleanEnv() });
      assert.equal(reset.code, 0, reset.stderr);
      const ended = await fetch(`${server.url}/keys`, { headers: { cookie }, redirect: 'manual' });
      assert.equal(ended.status, 303);
      assert.match(ended.headers.get('location') ?? '', /^\/login/);
      const newPassword = (JSON.parse(reset.stdout) as { password: string }).password;
      assert.doesNotMatch(server.stdout() + server.stderr(), new RegExp(newPassword));
    } finally {
      await server.stop();
    }
  });
});
