/**
 * What the tests over real HTTP share: an app listening on 127.0.0.1, port 0 (`listenLocal`);
 * users given passwords (`setPasswords`; password-abuse, user-lifecycle). And for the tests
 * that drive rekey with the official, unmodified `@datadog/datadog-api-client`
 * (datadog-client, users-datadog-client, app-key-scopes): a live server over a test store with
 * seeded organisations; the client's configuration for it; and the check that a call failed
 * with the client's ApiException.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
// The client's common part only (configuration, ApiException): the package's main entry also
// loads its v1 and v2 APIs — ~3 s of CPU in each of the dozen files that import this one, most
// of which never call them (measured on the 2-core CI machine, 2026-12-01).
import * as client from '@datadog/datadog-api-client/dist/packages/datadog-api-client-common/index.js';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { hashPassword } from '../../src/keys/password.js';
import { buildApp } from '../../src/server/app.js';
import type { Role, Store } from '../../src/store/store.js';
import { CLI_ACTOR, type TestStore } from '../support/dialects.js';
import { seedOrg, type SeededOrg } from './seed.js';

/** Starts `app` listening on 127.0.0.1 at a port the OS picks; returns its base URL. */
export async function listenLocal(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

/** Gives each named user of `org` its password, as `rekey user set-password` would (a change, by the CLI). */
export async function setPasswords(store: Store, org: SeededOrg, passwords: Partial<Record<Role, string>>): Promise<void> {
  for (const [role, password] of Object.entries(passwords) as Array<[Role, string]>) {
    await store.setUserPassword(org.org.id, org.users[role].user.id, await hashPassword(password), 'change', CLI_ACTOR);
  }
}

export interface LiveServer {
  db: TestStore;
  app: FastifyInstance;
  baseUrl: string;
  /** The seeded organisations, in the order of the names given. */
  orgs: SeededOrg[];
  close(): Promise<void>;
}

/** A store from `createStore` with one seeded organisation per name, and an app listening on it. */
export async function startLiveServer(createStore: () => Promise<TestStore>, orgNames: string[]): Promise<LiveServer> {
  const db = await createStore();
  let app: FastifyInstance | undefined;
  try {
    const hasher = createKeyHasher(randomBytes(32));
    const orgs: SeededOrg[] = [];
    for (const name of orgNames) orgs.push(await seedOrg(db.store, hasher, name));
    app = await buildApp({ store: db.store, hasher, logger: false });
    const baseUrl = await listenLocal(app);
    const listening = app;
    return {
      db,
      app: listening,
      baseUrl,
      orgs,
      async close() {
        await listening.close();
        await db.destroy();
      },
    };
  } catch (error) {
    await app?.close();
    await db.destroy();
    throw error;
  }
}

/** The official client's configuration for `baseUrl` with an API key and, if given, an application key. */
export function clientConfiguration(baseUrl: string, apiKey: string, appKey?: string) {
  return client.createConfiguration({
    authMethods: { apiKeyAuth: apiKey, ...(appKey === undefined ? {} : { appKeyAuth: appKey }) },
    baseServer: new client.BaseServerConfiguration(baseUrl, {}),
  });
}

/** Awaits `promise`, expecting the client to throw ApiException with `code`; returns its body as JSON. */
export async function expectApiException(promise: Promise<unknown>, code: number): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof client.ApiException, `expected ApiException, got ${String(error)}`);
    assert.equal(error.code, code, JSON.stringify(error.body));
    return JSON.stringify(error.body);
  }
  return assert.fail(`expected ApiException ${code}, the call succeeded`);
}
