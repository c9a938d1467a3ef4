/**
 * No key and no password is ever stored in clear (docs/product.md §2): after a bootstrap, key
 * creations, a roll, application keys and usage records, the raw bytes of the SQLite files
 * (database, WAL, shared memory) and a dump of every row of every PostgreSQL table contain
 * none of the key strings. Positive controls prove the search sees the stored rows.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { bootstrapDeployment } from '../../src/store/bootstrap.js';
import { SQLITE_FILE_NAME } from '../../src/store/sqlite-adapter.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR, POSTGRES, SQLITE } from '../support/dialects.js';

/** Creates keys of every kind through the store and returns every secret it was given. */
async function populate(store: Store): Promise<{ secrets: string[]; hashes: string[] }> {
  const hasher = createKeyHasher(await store.deploymentSecret());
  const credentials = await bootstrapDeployment(store, hasher);
  const secrets = [credentials.api_key.key, credentials.app_key.key, credentials.admin.password];
  const orgId = credentials.org.id;
  const admin = await store.findUserByEmail(credentials.admin.email);
  for (let i = 0; i < 5; i++) {
    const key = generateKey('api');
    secrets.push(key);
    await store.createApiKey(orgId, { name: `key ${i}`, hash: hasher.hash(key), last4: last4(key) }, CLI_ACTOR);
    const app = generateKey('app');
    secrets.push(app);
    await store.createAppKey(orgId, admin!.id, { name: `app ${i}`, hash: hasher.hash(app), last4: last4(app) }, CLI_ACTOR);
  }
  const rolled = generateKey('api');
  secrets.push(rolled);
  const { replacement } = await store.rollApiKey(orgId, credentials.api_key.id, { hash: hasher.hash(rolled), last4: last4(rolled) }, 60_000, CLI_ACTOR);
  await store.recordKeyUsage([{ keyId: replacement.id, host: 'web-1', firstSeen: new Date(), lastSeen: new Date(), points: 3 }]);
  await store.revokeApiKey(orgId, replacement.id, CLI_ACTOR).catch(() => undefined);
  return { secrets, hashes: secrets.slice(0, 2).map((s) => hasher.hash(s)) };
}

function assertAbsent(haystack: Buffer, secrets: string[], where: string): void {
  for (const secret of secrets) {
    for (const form of [secret, secret.toUpperCase(), secret.slice(0, 16)]) {
      assert.equal(haystack.indexOf(Buffer.from(form, 'utf8')), -1, `${where} contains a secret (last4 ${secret.slice(-4)})`);
    }
  }
}

describe('no plaintext keys on sqlite', () => {
  it('the database, WAL and shm files hold no key or password, before and after close', async () => {
    const db = await SQLITE.createStore();
    try {
      const { secrets, hashes } = await populate(db.store);
      const files = ['', '-wal', '-shm'].map((suffix) => join(db.location.dataDir!, SQLITE_FILE_NAME + suffix));
      const read = () => Buffer.concat(files.filter(existsSync).map((file) => readFileSync(file)));
      const open = read();
      assert.ok(open.indexOf(Buffer.from(hashes[0]!)) !== -1, 'control: the key hash is in the raw bytes');
      assertAbsent(open, secrets, 'rekey.db(+wal) while open');
      await db.store.close();
      const closed = read();
      assert.ok(closed.indexOf(Buffer.from(hashes[1]!)) !== -1, 'control: the app key hash is in the raw bytes');
      assertAbsent(closed, secrets, 'rekey.db after close');
    } finally {
      await db.destroy();
    }
  });
});

describe('no plaintext keys on postgres', () => {
  it('a dump of every row of every table holds no key or password', async () => {
    const db = await POSTGRES.createStore();
    try {
      const { secrets, hashes } = await populate(db.store);
      const tables = await sql<{ name: string }>`
        select table_name as name from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`.execute(db.store.sharedTables().db);
      assert.ok(tables.rows.length >= 7, 'every table of the schema');
      let dump = '';
      for (const { name } of tables.rows) {
        const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(name)} t`.execute(db.store.sharedTables().db);
        dump += `-- ${name}\n${rows.rows.map((r) => r.row).join('\n')}\n`;
      }
      assert.ok(dump.includes(hashes[0]!) && dump.includes(hashes[1]!), 'control: the key hashes are in the dump');
      assertAbsent(Buffer.from(dump, 'utf8'), secrets, 'the PostgreSQL dump');
    } finally {
      await db.destroy();
    }
  });
});
