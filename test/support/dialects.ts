/**
 * Every database the store runs on, for suites in Kysely's style:
 *
 * @example
 *   for (const dialect of DIALECTS) {
 *     describe(`store on ${dialect.name}`, () => {
 *       let db: TestStore;
 *       beforeEach(async () => (db = await dialect.createStore()));
 *       afterEach(() => db.destroy());
 *       it('…', async () => { await db.store.createOrg('acme', CLI_ACTOR); });
 *     });
 *   }
 *
 * Each `createStore()` is a fresh, empty, migrated store: SQLite in a new temp directory,
 * PostgreSQL in a new database from test/support/postgres.ts (never skipped).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type StoreLocation } from '../../src/store/open-store.js';
import type { Actor, Store, StoreOptions } from '../../src/store/store.js';
import { createTestDatabase } from './postgres.js';

export interface TestStore {
  readonly store: Store;
  /** Where it lives, to open more stores on the same database or pass to a child process. */
  readonly location: StoreLocation;
  /** Another Store instance on the same database (own connections); closed by destroy(). */
  openAnother(options?: StoreOptions & { maxConnections?: number }): Promise<Store>;
  /** Closes every store opened here and deletes the database or directory. */
  destroy(): Promise<void>;
}

export interface TestDialect {
  readonly name: 'sqlite' | 'postgres';
  createStore(options?: StoreOptions): Promise<TestStore>;
}

export const CLI_ACTOR: Actor = { userId: null, kind: 'cli', sourceIp: null };

async function testStore(location: StoreLocation, options: StoreOptions | undefined, cleanup: () => Promise<void>): Promise<TestStore> {
  const opened: Store[] = [];
  const open = async (more?: StoreOptions & { maxConnections?: number }) => {
    const { maxConnections, ...storeOptions } = more ?? {};
    const store = await openStore({
      ...location,
      options: { ...options, ...storeOptions },
      ...(maxConnections !== undefined ? { maxConnections } : {}),
    });
    opened.push(store);
    return store;
  };
  const store = await open();
  let destroyed: Promise<void> | undefined;
  return {
    store,
    location,
    openAnother: open,
    destroy: () =>
      (destroyed ??= (async () => {
        await Promise.all(opened.map((s) => s.close().catch(() => {})));
        await cleanup();
      })()),
  };
}

export const SQLITE: TestDialect = {
  name: 'sqlite',
  async createStore(options) {
    const dataDir = mkdtempSync(join(tmpdir(), 'rekey-store-'));
    return testStore({ dataDir }, options, async () => rmSync(dataDir, { recursive: true, force: true }));
  },
};

export const POSTGRES: TestDialect = {
  name: 'postgres',
  async createStore(options) {
    const database = await createTestDatabase();
    try {
      return await testStore({ databaseUrl: database.url }, options, () => database.drop());
    } catch (error) {
      await database.drop();
      throw error;
    }
  },
};

export const DIALECTS: readonly TestDialect[] = [SQLITE, POSTGRES];
