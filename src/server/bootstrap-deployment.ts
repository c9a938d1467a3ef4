/**
 * Interim bootstrap for `rekey server` on an empty store, until the store's own
 * `bootstrapDeployment` (shared with `rekey init`) lands: one organisation, its admin user
 * (generated password), its first API key and its first application key.
 *
 * Not atomic across the four writes; `isInitialised()` is checked by the caller first.
 */
import { generateKey, last4 } from '../keys/key-format.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import { generatePassword, hashPassword } from '../keys/password.js';
import type { Actor, Store } from '../store/store.js';
import type { BootstrapCredentials } from './start-server.js';

const SYSTEM: Actor = { userId: null, kind: 'system', sourceIp: null };

export async function bootstrapDeployment(store: Store, hasher: KeyHasher): Promise<BootstrapCredentials> {
  const org = await store.createOrg('Default organization', SYSTEM);
  const password = generatePassword();
  const admin = await store.createUser(
    org.id,
    { email: 'admin@rekey.local', name: 'Administrator', role: 'admin', passwordHash: await hashPassword(password) },
    SYSTEM,
  );
  const apiSecret = generateKey('api');
  const apiKey = await store.createApiKey(org.id, { name: 'First API key', hash: hasher.hash(apiSecret), last4: last4(apiSecret) }, SYSTEM);
  const appSecret = generateKey('app');
  const appKey = await store.createAppKey(org.id, admin.id, { name: 'First application key', hash: hasher.hash(appSecret), last4: last4(appSecret) }, SYSTEM);
  return {
    org: { id: org.id, name: org.name },
    admin: { email: admin.email, password },
    api_key: { id: apiKey.id, key: apiSecret, last4: apiKey.last4 },
    app_key: { id: appKey.id, key: appSecret, last4: appKey.last4 },
  };
}
