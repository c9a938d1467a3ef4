/**
 * What the ApiKeyVerifier tests (api-key-verifier, api-key-verifier-guessing) start from: a
 * SQLite store with one organisation (created before the file's tests, destroyed after), its
 * key hasher, keys made on demand, and the store wrapped so its lookups are counted.
 */
import { after, before } from 'node:test';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import type { ApiKey, KeyChangeListener, Store } from '../../src/store/store.js';
import { CLI_ACTOR, SQLITE, type TestStore } from '../support/dialects.js';

/** The real store, with its lookups counted and optionally held back, and its change listener kept. */
export function countingStore(store: Store) {
  const counter = { lookups: 0, gate: undefined as Promise<void> | undefined, listener: undefined as KeyChangeListener | undefined };
  const wrapped = Object.create(store) as Store;
  wrapped.findApiKeyByHash = async (hash: string): Promise<ApiKey | undefined> => {
    counter.lookups += 1;
    const row = await store.findApiKeyByHash(hash);
    if (counter.gate) await counter.gate;
    return row;
  };
  wrapped.watchKeyChanges = async (listener) => {
    counter.listener = listener;
    return store.watchKeyChanges(listener);
  };
  return { wrapped, counter };
}

export interface VerifierFixture {
  readonly ts: TestStore;
  readonly hasher: KeyHasher;
  readonly orgId: string;
  /** A new active API key of the organisation: the key and its row. */
  newKey(): Promise<{ key: string; row: ApiKey }>;
}

/** Registers before/after hooks in the calling suite; the fields are set once `before` ran. */
export function verifierFixture(orgName: string): VerifierFixture {
  let ts: TestStore;
  let hasher: KeyHasher;
  let orgId: string;
  before(async () => {
    ts = await SQLITE.createStore();
    hasher = createKeyHasher(await ts.store.deploymentSecret());
    orgId = (await ts.store.createOrg(orgName, CLI_ACTOR)).id;
  });
  after(() => ts.destroy());
  return {
    get ts() {
      return ts;
    },
    get hasher() {
      return hasher;
    },
    get orgId() {
      return orgId;
    },
    async newKey() {
      const key = generateKey('api');
      const row = await ts.store.createApiKey(orgId, { name: 'k', hash: hasher.hash(key), last4: last4(key) }, CLI_ACTOR);
      return { key, row };
    },
  };
}
