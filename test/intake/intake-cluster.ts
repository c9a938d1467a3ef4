/**
 * Several real `rekey server` processes on one fresh PostgreSQL database with a shared
 * REKEY_SECRET, and an organisation seeded through the store (admin, API key, application
 * key) — for the multi-node revocation test and benchmark. Keys reach children only through
 * the database; the secret only through env.
 */
import { randomBytes } from 'node:crypto';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR } from '../support/dialects.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

export interface IntakeCluster {
  urls: string[];
  store: Store;
  hasher: KeyHasher;
  orgId: string;
  apiKey: string;
  appKey: string;
  /** A new active API key in the org. */
  newApiKey(): Promise<{ key: string; id: string }>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

export async function startIntakeCluster(nodes: number): Promise<IntakeCluster> {
  const database: TestDatabase = await createTestDatabase();
  const secret = randomBytes(32).toString('hex');
  const previousSecret = process.env.REKEY_SECRET;
  process.env.REKEY_SECRET = secret; // this process's store hashes keys like the nodes
  const nodesStarted: ServerProcess[] = [];
  let store: Store | undefined;
  try {
    store = await openStore({ databaseUrl: database.url });
    const hasher = createKeyHasher(await store.deploymentSecret());
    const org = await store.createOrg('cluster', CLI_ACTOR);
    const user = await store.createUser(org.id, { email: 'admin@cluster.test', name: 'Admin', role: 'admin', passwordHash: 'x' }, CLI_ACTOR);
    const s = store;
    const newApiKey = async () => {
      const key = generateKey('api');
      const row = await s.createApiKey(org.id, { name: 'cluster', hash: hasher.hash(key), last4: last4(key) }, CLI_ACTOR);
      return { key, id: row.id };
    };
    const main = await newApiKey();
    const appKey = generateKey('app');
    await store.createAppKey(org.id, user.id, { name: 'cluster', hash: hasher.hash(appKey), last4: last4(appKey) }, CLI_ACTOR);

    const env = { ...process.env, REKEY_DATABASE_URL: database.url, REKEY_SECRET: secret };
    // allSettled, so the nodes that did start are stopped too when another one fails.
    const settled = await Promise.allSettled(
      Array.from({ length: nodes }, () => startServerProcess({ args: ['--log-level', 'warn'], env, timeoutMs: START_TIMEOUT_MS })),
    );
    for (const result of settled) if (result.status === 'fulfilled') nodesStarted.push(result.value);
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return {
      urls: nodesStarted.map((node) => node.url),
      store,
      hasher,
      orgId: org.id,
      apiKey: main.key,
      appKey,
      newApiKey,
      async stop() {
        await Promise.all(nodesStarted.map((node) => node.stop('SIGTERM', 10_000)));
        await s.close();
        await database.drop();
        if (previousSecret === undefined) delete process.env.REKEY_SECRET;
        else process.env.REKEY_SECRET = previousSecret;
      },
    };
  } catch (error) {
    await Promise.all(nodesStarted.map((node) => node.stop('SIGKILL')));
    await store?.close().catch(() => {});
    await database.drop();
    throw error;
  }
}

/** A one-point v2 series body, timestamped now. */
export function onePointBody(): string {
  return JSON.stringify({ series: [{ metric: 'cluster.probe', type: 3, points: [{ timestamp: Math.floor(Date.now() / 1000), value: 1 }] }] });
}
