/**
 * Test fixtures for the server suites: an organisation with one user per role, each with an
 * application key, and one API key — created through the store, keys hashed as the server
 * hashes them. The plaintext keys are returned so tests can authenticate and then search
 * logs and bodies for them.
 */
import { generateKey, last4 } from '../../src/keys/key-format.js';
import type { KeyHasher } from '../../src/keys/key-hasher.js';
import type { Actor, ApiKey, AppKey, Org, Role, Store, User } from '../../src/store/store.js';

export const CLI_ACTOR: Actor = { userId: null, kind: 'cli', sourceIp: null };

export interface SeededUser {
  user: User;
  appKey: AppKey;
  /** The application key's plaintext. */
  appSecret: string;
}

export interface SeededOrg {
  org: Org;
  apiKey: ApiKey;
  /** The API key's plaintext. */
  apiSecret: string;
  users: Record<Role, SeededUser>;
  /** Every plaintext key created for this org, for leak searches. */
  secrets: string[];
}

export async function seedOrg(store: Store, hasher: KeyHasher, name: string): Promise<SeededOrg> {
  const org = await store.createOrg(name, CLI_ACTOR);
  const apiSecret = generateKey('api');
  const apiKey = await store.createApiKey(org.id, { name: `${name} first key`, hash: hasher.hash(apiSecret), last4: last4(apiSecret) }, CLI_ACTOR);
  const users = {} as Record<Role, SeededUser>;
  for (const role of ['admin', 'standard', 'read_only'] as const) {
    const user = await store.createUser(
      org.id,
      { email: `${role}@${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.example`, name: `${name} ${role}`, role, passwordHash: 'not-a-password' },
      CLI_ACTOR,
    );
    const appSecret = generateKey('app');
    const appKey = await store.createAppKey(org.id, user.id, { name: `${role} key`, hash: hasher.hash(appSecret), last4: last4(appSecret) }, CLI_ACTOR);
    users[role] = { user, appKey, appSecret };
  }
  return { org, apiKey, apiSecret, users, secrets: [apiSecret, ...Object.values(users).map((u) => u.appSecret)] };
}

/** Management headers for `role` of `seeded`. */
export function headersFor(seeded: SeededOrg, role: Role): Record<string, string> {
  return { 'dd-api-key': seeded.apiSecret, 'dd-application-key': seeded.users[role].appSecret };
}
