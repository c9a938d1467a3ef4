/**
 * The one way users are created and changed (src/users/users-service.ts), on a real SQLite
 * store: the policy it applies to each caller, the password it makes or checks (hashed, never
 * kept in clear), and that no other product file hashes or generates a password for a user
 * (issue 16 item 2).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRekeyError, type ErrorCode } from '../../src/errors.js';
import { verifyPassword } from '../../src/keys/password.js';
import type { Role, Store, User } from '../../src/store/store.js';
import { UsersService, type UserCaller } from '../../src/users/users-service.js';
import { CLI_ACTOR, SQLITE, type TestStore } from '../support/dialects.js';

const root = new URL('../..', import.meta.url).pathname;

async function refusedWith(code: ErrorCode, run: () => Promise<unknown>): Promise<void> {
  await assert.rejects(run, (error) => isRekeyError(error, code));
}

describe('UsersService: the one way users are made and changed', () => {
  let db: TestStore;
  let store: Store;
  let users: UsersService;
  let orgId: string;
  const byRole = new Map<Role, User>();
  const caller = (role: Role, scopes?: string[]): UserCaller => {
    const user = byRole.get(role)!;
    return { orgId, user, ...(scopes ? { appKey: { scopes } as never } : {}), actor: { userId: user.id, kind: 'user', sourceIp: '127.0.0.1' } };
  };
  const operator = (): UserCaller => ({ orgId, actor: CLI_ACTOR, operator: true });

  before(async () => {
    db = await SQLITE.createStore();
    store = db.store;
    users = new UsersService(store);
    orgId = (await store.createOrg('Acme', CLI_ACTOR)).id;
    for (const role of ['admin', 'standard', 'read_only'] as const) {
      byRole.set(role, (await users.createUser(operator(), { email: `${role}@example.com`, name: role, role })).user);
    }
  });
  after(() => db.destroy());

  it('generates a password when none is given, returns it once and stores only its hash', async () => {
    const { user, password, generated } = await users.createUser(caller('admin'), { email: 'gen@example.com', name: 'Gen', role: 'standard' });
    assert.equal(generated, true);
    assert.ok(password.length >= 24);
    assert.notEqual(user.passwordHash, password);
    assert.ok(await verifyPassword(password, user.passwordHash));
  });

  it('checks a chosen password against the rules', async () => {
    await refusedWith('PASSWORD_TOO_SHORT', () =>
      users.createUser(operator(), { email: 'short@example.com', name: 'S', role: 'standard', password: 'tooshort' }),
    );
    assert.equal(await store.findUserByEmail('short@example.com'), undefined);
    const { user, generated } = await users.createUser(operator(), {
      email: 'chosen@example.com',
      name: 'C',
      role: 'standard',
      password: 'a long enough password',
    });
    assert.equal(generated, false);
    assert.ok(await verifyPassword('a long enough password', user.passwordHash));
  });

  it('asks the access policy: only admins manage users; a scoped key never resets a password', async () => {
    const target = byRole.get('read_only')!;
    await refusedWith('ROLE_REQUIRED', () => users.createUser(caller('standard'), { email: 'x@example.com', name: 'X', role: 'admin' }));
    await refusedWith('ROLE_REQUIRED', () => users.setDisabled(caller('read_only'), target.id, true));
    await refusedWith('ROLE_REQUIRED', () => users.deleteUser(caller('standard'), target.id));
    await refusedWith('ROLE_REQUIRED', () => users.resetPassword(caller('standard'), target.id));
    await refusedWith('UNSCOPED_KEY_REQUIRED', () => users.resetPassword(caller('admin', ['user_access_manage']), target.id));
    assert.equal((await store.getUser(orgId, target.id))?.disabled, false);
  });

  it('resets a password (new one returned, old one no longer valid) and changes your own after checking the current one', async () => {
    const target = byRole.get('standard')!;
    const { password } = await users.resetPassword(caller('admin'), target.id);
    const reset = (await store.getUser(orgId, target.id))!;
    assert.ok(await verifyPassword(password, reset.passwordHash));
    const self: UserCaller = { orgId, user: reset, actor: { userId: reset.id, kind: 'user', sourceIp: null } };
    await refusedWith('CURRENT_PASSWORD_INCORRECT', () => users.changeOwnPassword(self, 'not the password', 'a brand new password'));
    await refusedWith('PASSWORD_TOO_SHORT', () => users.changeOwnPassword(self, password, 'short'));
    const changed = await users.changeOwnPassword(self, password, 'a brand new password');
    assert.ok(await verifyPassword('a brand new password', changed.passwordHash));
    await refusedWith('BAD_REQUEST', () => users.changeOwnPassword(operator(), 'a', 'b'));
  });

  it('is the only product code that hashes or generates a user password', () => {
    const allowed = new Set([
      'src/users/users-service.ts',
      'src/keys/password.ts', // defines them
      'src/store/bootstrap.ts', // the first admin, made with the organisation in one transaction (store.initialise)
      'src/ui/routes/auth-routes.ts', // a dummy hash, so an unknown email costs the same scrypt work
    ]);
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
          const file = relative(root, full);
          if (!allowed.has(file) && /\b(hashPassword|generatePassword)\(/.test(readFileSync(full, 'utf8'))) offenders.push(file);
        }
      }
    };
    walk(join(root, 'src'));
    assert.deepEqual(offenders, []);
  });
});
