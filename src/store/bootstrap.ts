/**
 * A new deployment's first organisation, admin user, API key and application key: shared by
 * `rekey init` and by `rekey server` starting on an empty store. Atomic (Store.initialise):
 * on a store that is already initialised it throws ALREADY_INITIALISED and changes nothing.
 *
 * The returned credentials are the only time the keys and password exist in clear: print
 * them once, never log them.
 *
 * @example
 *   const credentials = await bootstrapDeployment(store, createKeyHasher(await store.deploymentSecret()));
 *   process.stdout.write(JSON.stringify(credentials) + '\n');
 */
import { isRekeyError, rekeyError } from '../errors.js';
import { mintKey } from '../keys/keys-service.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import { generatePassword, hashPassword } from '../keys/password.js';
import type { Actor, Store } from './store.js';

/** Exactly the object `rekey init --json` prints (docs/product.md §1). */
export interface BootstrapCredentials {
  org: { id: string; name: string };
  admin: { email: string; password: string };
  api_key: { id: string; key: string; last4: string };
  app_key: { id: string; key: string; last4: string };
}

export interface BootstrapOptions {
  /** Default 'Default organization'. */
  orgName?: string;
  /** Default 'admin@rekey.local'. */
  adminEmail?: string;
  /** Default: a generated password (144 bits), returned once. */
  adminPassword?: string;
  /** Who bootstraps, for the audit trail. Default: the system. */
  actor?: Actor;
  /** Names the store in the ALREADY_INITIALISED message, e.g. the data directory. */
  where?: string;
}

export const DEFAULT_ORG_NAME = 'Default organization';
export const DEFAULT_ADMIN_EMAIL = 'admin@rekey.local';

export async function bootstrapDeployment(store: Store, hasher: KeyHasher, options: BootstrapOptions = {}): Promise<BootstrapCredentials> {
  const password = options.adminPassword ?? generatePassword();
  // The one minting path (src/keys/keys-service.ts); the store gets only hash and last4.
  const apiKey = mintKey('api', hasher);
  const appKey = mintKey('app', hasher);
  try {
    const created = await store.initialise(
      {
        orgName: options.orgName ?? DEFAULT_ORG_NAME,
        admin: { email: options.adminEmail ?? DEFAULT_ADMIN_EMAIL, name: 'Administrator', passwordHash: await hashPassword(password) },
        apiKey: { name: 'First API key', hash: apiKey.hash, last4: apiKey.last4 },
        appKey: { name: 'First application key', hash: appKey.hash, last4: appKey.last4 },
      },
      options.actor ?? { userId: null, kind: 'system', sourceIp: null },
    );
    return {
      org: { id: created.org.id, name: created.org.name },
      admin: { email: created.admin.email, password },
      api_key: { id: created.apiKey.id, key: apiKey.secret, last4: created.apiKey.last4 },
      app_key: { id: created.appKey.id, key: appKey.secret, last4: created.appKey.last4 },
    };
  } catch (error) {
    if (options.where !== undefined && isRekeyError(error, 'ALREADY_INITIALISED')) {
      throw rekeyError('ALREADY_INITIALISED', { where: options.where }, { cause: error });
    }
    throw error;
  }
}
