/**
 * The one key-minting path (src/keys/keys-service.ts), on a real SQLite store: what it stores
 * (hash and last4, never the key), the policy it applies to its caller, and that no other
 * product file mints a key (issue 16 item 2).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRekeyError, type ErrorCode } from '../../src/errors.js';
import { parseKey } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { KeysService, type KeyCaller } from '../../src/keys/keys-service.js';
import { bootstrapDeployment } from '../../src/store/bootstrap.js';
import type { AppKey, Role, Store, User } from '../../src/store/store.js';
import { CLI_ACTOR, SQLITE, type TestStore } from '../support/dialects.js';

const root = new URL('../..', import.meta.url).pathname;

async function refusedWith(code: ErrorCode, run: () => Promise<unknown>): Promise<void> {
  await assert.rejects(run, (error) => isRekeyError(error, code));
}

describe('KeysService: the one key-minting path', () => {
  let db: TestStore;
  let store: Store;
  let hasher: KeyHasher;
  let keys: KeysService;
  let orgId: string;
  const users = new Map<Role, User>();

  const caller = (role: Role, scopes?: string[] | null): KeyCaller => {
    const user = users.get(role)!;
    const appKey = scopes === undefined ? undefined : ({ scopes } as AppKey);
    return { orgId, user, ...(appKey === undefined ? {} : { appKey }), actor: { userId: user.id, kind: 'user', sourceIp: '127.0.0.1' } };
  };

  before(async () => {
    db = await SQLITE.createStore();
    store = db.store;
    hasher = createKeyHasher(Buffer.alloc(32, 7));
    keys = new KeysService(store, hasher);
    const created = await bootstrapDeployment(store, hasher);
    orgId = created.org.id;
    // bootstrap mints through the same path: its keys are stored as their hash.
    assert.equal((await store.findApiKeyByHash(hasher.hash(created.api_key.key)))?.id, created.api_key.id);
    assert.equal((await store.findAppKeyByHash(hasher.hash(created.app_key.key)))?.id, created.app_key.id);
    users.set('admin', (await store.findUserByEmail(created.admin.email))!);
    for (const role of ['standard', 'read_only'] as const) {
      users.set(role, await store.createUser(orgId, { email: `${role}@example.com`, name: role, role, passwordHash: 'x' }, CLI_ACTOR));
    }
  });
  after(() => db.destroy());

  it('createApiKey stores the hash and last4 of the key it returns once', async () => {
    const { key, secret } = await keys.createApiKey(caller('admin'), { name: 'ci' });
    assert.equal(parseKey(secret, 'api').ok, true);
    assert.equal(key.last4, secret.slice(-4));
    assert.equal(key.name, 'ci');
    assert.equal((await store.findApiKeyByHash(hasher.hash(secret)))?.id, key.id);
    assert.ok(!JSON.stringify(key).includes(secret), 'the stored record does not hold the key');
  });

  it('rollApiKey mints the replacement the same way; the old key gets an expiry', async () => {
    const { key: old } = await keys.createApiKey(caller('admin'), { name: 'to roll' });
    const { previous, replacement, secret } = await keys.rollApiKey(caller('admin'), old.id, { graceMs: 60_000 });
    assert.equal(previous.id, old.id);
    assert.notEqual(previous.expiresAt, null);
    assert.equal(replacement.name, 'to roll');
    assert.equal(replacement.last4, secret.slice(-4));
    assert.equal((await store.findApiKeyByHash(hasher.hash(secret)))?.id, replacement.id);
  });

  it('createAppKey mints an application key owned by the caller, with the scopes asked for', async () => {
    const { key, secret } = await keys.createAppKey(caller('standard'), { name: 'mine', scopes: ['api_keys_read'] });
    assert.equal(parseKey(secret, 'app').ok, true);
    assert.equal(key.ownerId, users.get('standard')!.id);
    assert.deepEqual(key.scopes, ['api_keys_read']);
    assert.equal((await store.findAppKeyByHash(hasher.hash(secret)))?.id, key.id);
  });

  it('applies the access policy before it mints anything', async () => {
    const before = (await store.listApiKeys(orgId, { status: 'all', page: { size: 100, number: 0 } })).totalFiltered;
    await refusedWith('ROLE_REQUIRED', () => keys.createApiKey(caller('standard'), { name: 'no' }));
    await refusedWith('ROLE_REQUIRED', () => keys.createAppKey(caller('read_only'), { name: 'no' }));
    // A scoped admin key: the scope decides.
    await refusedWith('SCOPE_REQUIRED', () => keys.createApiKey(caller('admin', ['api_keys_read']), { name: 'no' }));
    const { key } = await keys.createApiKey(caller('admin', ['api_keys_write']), { name: 'scoped yes' });
    // Rolling needs api_keys_write and api_keys_delete.
    await refusedWith('SCOPE_REQUIRED', () => keys.rollApiKey(caller('admin', ['api_keys_write']), key.id, { graceMs: 0 }));
    // An application key cannot be given scopes its maker does not hold, or unknown ones.
    await refusedWith('SCOPE_ESCALATION', () => keys.createAppKey(caller('admin', ['user_app_keys']), { name: 'no', scopes: null }));
    await refusedWith('UNKNOWN_SCOPE', () => keys.createAppKey(caller('admin'), { name: 'no', scopes: ['dashboards_write'] }));
    // An id that cannot exist: 404 before any query.
    await refusedWith('API_KEY_NOT_FOUND', () => keys.rollApiKey(caller('admin'), 'not-a-uuid', { graceMs: 0 }));
    const afterCount = (await store.listApiKeys(orgId, { status: 'all', page: { size: 100, number: 0 } })).totalFiltered;
    assert.equal(afterCount, before + 1, 'only the allowed create made a key');
  });

  it('observes its store writes only (the API counts them in rekey_key_operations_total; refusals are not counted)', async () => {
    const observed: string[] = [];
    const counted = new KeysService(store, hasher, async (operation, run) => {
      try {
        const result = await run();
        observed.push(`${operation} ok`);
        return result;
      } catch (error) {
        observed.push(`${operation} error`);
        throw error;
      }
    });
    await refusedWith('ROLE_REQUIRED', () => counted.createApiKey(caller('read_only'), { name: 'no' }));
    await refusedWith('API_KEY_NOT_FOUND', () => counted.rollApiKey(caller('admin'), 'not-a-uuid', { graceMs: 0 }));
    const { key } = await counted.createApiKey(caller('admin'), { name: 'counted' });
    await counted.rollApiKey(caller('admin'), key.id, { graceMs: 0 });
    await counted.createAppKey(caller('admin'), { name: 'counted app' });
    // A write the store refuses is observed as an error: rolling the now-revoked key.
    await refusedWith('API_KEY_REVOKED', () => counted.rollApiKey(caller('admin'), key.id, { graceMs: 0 }));
    assert.deepEqual(observed, ['api_key.create ok', 'api_key.roll ok', 'app_key.create ok', 'api_key.roll error']);
  });

  it('no other product file generates a key', () => {
    const minting: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts') && !path.endsWith('.test.ts') && /\bgenerateKey\(/.test(readFileSync(path, 'utf8').replace(/^\s*\*.*$/gm, ''))) {
          minting.push(relative(root, path));
        }
      }
    };
    walk(join(root, 'src'));
    assert.deepEqual(minting.sort(), ['src/keys/key-format.ts', 'src/keys/keys-service.ts']);
  });
});
