/**
 * What the tests that drive rekey with the official, unmodified `@datadog/datadog-api-client`
 * share (datadog-client, users-datadog-client, app-key-scopes): a live server on
 * 127.0.0.1, port 0, over a test store with seeded organisations; the client's configuration
 * for it; and the check that a call failed with the client's ApiException.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { client } from '@datadog/datadog-api-client';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import type { TestStore } from '../support/dialects.js';
import { seedOrg, type SeededOrg } from './seed.js';

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
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const listening = app;
    return {
      db,
      app: listening,
      baseUrl: `http://127.0.0.1:${address.port}`,
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
