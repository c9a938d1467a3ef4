/**
 * The one place keys are minted: generate → hash → last4 → store. The management API
 * (src/server/routes/api-key-routes.ts, app-key-routes.ts), the web UI (src/ui/routes/…) and
 * the first deployment (src/store/bootstrap.ts, used by `rekey init` and `rekey server`) all
 * come here, so a key is made one way and its secret leaves only in the returned value.
 *
 * Each operation asks the one access policy (src/access/policy.ts) for its caller before it
 * mints: creating an API key needs `api_keys:write`, rolling one `api_keys:write` and
 * `api_keys:delete` (it makes a key and revokes the old one), creating an application key
 * `own_app_keys:write`, and a scoped caller cannot give a new key scopes it does not hold.
 * The refusals are the management API's (403 ROLE_REQUIRED / SCOPE_REQUIRED, 400
 * UNKNOWN_SCOPE, 403 SCOPE_ESCALATION); the UI checks its own capability (403 FORBIDDEN)
 * first, so it sees these only if the two ever disagreed.
 *
 * The returned `secret` is the only copy of the key in clear: show it once, never log it.
 *
 * @example
 *   const keys = new KeysService(store, hasher);
 *   const { key, secret } = await keys.createApiKey(caller, { name: 'ci' });
 */
import type { Action } from '../access/policy.js';
import { rekeyError } from '../errors.js';
import { authorize, checkRequestedScopes } from '../server/management-auth.js';
import type { Actor, ApiKey, ApiKeySettings, AppKey, Store, User } from '../store/store.js';
import { generateKey, last4, type KeyKind } from './key-format.js';
import type { KeyHasher } from './key-hasher.js';

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new key: the secret (shown once) and what the store keeps of it. */
export interface MintedKey {
  secret: string;
  hash: string;
  last4: string;
}

/** Who asks: the user (its role), the application key it came with (its scopes; none from the UI), and the actor for the audit trail. */
export interface KeyCaller {
  orgId: string;
  user: User;
  appKey?: AppKey;
  actor: Actor;
}

/** generate → hash → last4: the only way a key is made. */
export function mintKey(kind: KeyKind, hasher: KeyHasher): MintedKey {
  const secret = generateKey(kind);
  return { secret, hash: hasher.hash(secret), last4: last4(secret) };
}

/**
 * Wraps each store write of the service (not its refusals), e.g. the management API's
 * `countKeyOperation` (rekey_key_operations_total by operation and result).
 */
export type KeyOperationObserver = <T>(operation: 'api_key.create' | 'api_key.roll' | 'app_key.create', run: () => Promise<T>) => Promise<T>;

export class KeysService {
  constructor(
    private readonly store: Store,
    private readonly hasher: KeyHasher,
    private readonly observe: KeyOperationObserver = (_operation, run) => run(),
  ) {}

  /** generate → hash → last4 with this service's hasher. */
  mint(kind: KeyKind): MintedKey {
    return mintKey(kind, this.hasher);
  }

  /** A new API key in the caller's organisation (`api_keys:write`). */
  async createApiKey(caller: KeyCaller, input: ApiKeySettings): Promise<{ key: ApiKey; secret: string }> {
    this.permit(caller, 'api_keys:write', 'creating an API key');
    const { secret, hash, last4: tail } = this.mint('api');
    const key = await this.observe('api_key.create', () => this.store.createApiKey(caller.orgId, { ...input, hash, last4: tail }, caller.actor));
    return { key, secret };
  }

  /**
   * Rolls API key `id`: a new key now (named `input.name`, or the old key's name), the old one
   * expiring after `graceMs` (`api_keys:write` and `api_keys:delete`).
   */
  async rollApiKey(
    caller: KeyCaller,
    id: string,
    input: { name?: string; graceMs: number },
  ): Promise<{ previous: ApiKey; replacement: ApiKey; secret: string }> {
    this.permit(caller, 'api_keys:write', 'rolling an API key');
    this.permit(caller, 'api_keys:delete', 'rolling an API key');
    // An id that cannot exist is 404 before any query (PostgreSQL would refuse a non-uuid).
    if (!OBJECT_ID.test(id)) throw rekeyError('API_KEY_NOT_FOUND');
    const { secret, hash, last4: tail } = this.mint('api');
    const { previous, replacement } = await this.observe('api_key.roll', () =>
      this.store.rollApiKey(caller.orgId, id, { ...(input.name === undefined ? {} : { name: input.name }), hash, last4: tail }, input.graceMs, caller.actor),
    );
    return { previous, replacement, secret };
  }

  /**
   * A new application key owned by the caller (`own_app_keys:write`). `scopes`: Datadog scope
   * names (unknown ones: 400 UNKNOWN_SCOPE; beyond the caller's own: 403 SCOPE_ESCALATION);
   * null or absent: the owner's whole role.
   */
  async createAppKey(caller: KeyCaller, input: { name: string; scopes?: string[] | null }): Promise<{ key: AppKey; secret: string }> {
    this.permit(caller, 'own_app_keys:write', 'creating an application key');
    // A key created without scopes by a scoped key would have more than its maker: refused.
    checkRequestedScopes(caller, input.scopes ?? null);
    const { secret, hash, last4: tail } = this.mint('app');
    const key = await this.observe('app_key.create', () =>
      this.store.createAppKey(
        caller.orgId,
        caller.user.id,
        { name: input.name, hash, last4: tail, ...(input.scopes === undefined ? {} : { scopes: input.scopes }) },
        caller.actor,
      ),
    );
    return { key, secret };
  }

  private permit(caller: KeyCaller, action: Action, what: string): void {
    authorize(caller, action, what);
  }
}
