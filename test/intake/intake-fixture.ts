/**
 * A store with one organisation, an admin, an API key and an application key, and the real
 * server app (`buildApp`: the intake, and the query and host reads under the management auth)
 * on it, with the given intake settings — for the intake's tests.
 */
import type { FastifyInstance } from 'fastify';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp, type IntakeSettings } from '../../src/server/app.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR, type TestDialect, type TestStore } from '../support/dialects.js';

export interface IntakeFixture {
  testStore: TestStore;
  store: Store;
  hasher: KeyHasher;
  app: FastifyInstance;
  orgId: string;
  apiKey: string;
  apiKeyId: string;
  appKey: string;
  /** Creates another active API key in the org. */
  newApiKey(): Promise<{ key: string; id: string }>;
  close(): Promise<void>;
}

export async function createIntakeFixture(dialect: TestDialect, intake: IntakeSettings = {}): Promise<IntakeFixture> {
  const testStore = await dialect.createStore();
  const store = testStore.store;
  const hasher = createKeyHasher(await store.deploymentSecret());
  const org = await store.createOrg(`org-${Math.random().toString(36).slice(2, 8)}`, CLI_ACTOR);
  const user = await store.createUser(org.id, { email: `admin-${org.id}@example.com`, name: 'Admin', role: 'admin', passwordHash: 'x' }, CLI_ACTOR);
  const newApiKey = async () => {
    const key = generateKey('api');
    const created = await store.createApiKey(org.id, { name: 'intake test', hash: hasher.hash(key), last4: last4(key) }, CLI_ACTOR);
    return { key, id: created.id };
  };
  const api = await newApiKey();
  const appKey = generateKey('app');
  await store.createAppKey(org.id, user.id, { name: 'intake test', hash: hasher.hash(appKey), last4: last4(appKey) }, CLI_ACTOR);
  const app = await buildApp({ store, hasher, logger: false, intake });
  await app.ready();
  return {
    testStore,
    store,
    hasher,
    app,
    orgId: org.id,
    apiKey: api.key,
    apiKeyId: api.id,
    appKey,
    newApiKey,
    async close() {
      await app.close();
      await testStore.destroy();
    },
  };
}
