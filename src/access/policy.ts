/**
 * The one access policy of rekey: which role may do which action, and which application-key
 * scope grants which action. The management API (src/server/management-auth.ts) and the web
 * UI (src/ui/ui-context.ts) both ask `can`; nothing else decides who may do what.
 *
 * A caller may do an action when its role allows it AND, for an application key with scopes,
 * one of the key's scopes grants it. A key without scopes (`null`) has its owner's full role,
 * as in Datadog ("unscoped keys have the user's permissions"); a UI session has no scopes.
 * Scope names are Datadog's permission names for what rekey serves; any other name is refused
 * (400) when a key is created or changed (`unknownScopes`).
 *
 * @example
 *   can({ role: 'standard', scopes: null }, 'api_keys:write');            // false: admin only
 *   can({ role: 'admin', scopes: ['api_keys_read'] }, 'api_keys:write'); // false: not in scope
 *   can({ role: 'admin', scopes: ['api_keys_read'] }, 'api_keys:read');  // true
 */
import type { Role } from '../store/store.js';

/** What a caller can ask rekey to do. Stable names: routes and pages refer to them. */
export const ACTIONS = [
  /** List and read the organisation's API keys (last4 only). */
  'api_keys:read',
  /** Create, rename, roll and restore API keys. */
  'api_keys:write',
  /** Revoke API keys (rolling one also revokes the old key). */
  'api_keys:delete',
  /** List and read every application key of the organisation (names and last4 only). */
  'app_keys:read',
  /** Change or delete another user's application key. */
  'app_keys:write',
  /** List and read the caller's own application keys. */
  'own_app_keys:read',
  /** Create, change and delete the caller's own application keys. */
  'own_app_keys:write',
  /** Read the organisation's audit trail (emails, roles, source addresses). */
  'audit:read',
  /** List and read the organisation's users. */
  'users:read',
  /** Create, change, disable and delete users. */
  'users:write',
  /**
   * Reset another user's password (the answer carries the new password). No scope grants it:
   * a password signs in to the UI with the user's whole role, so a scoped key would escape
   * its scopes (see NO_SCOPE).
   */
  'users:reset_password',
  /** Change the caller's own password (giving the current one). No scope grants it (NO_SCOPE). */
  'own_password:write',
  /** Read the hosts that sent metrics. */
  'hosts:read',
  /** Query stored metric points. */
  'metrics:query',
  /** Read the events sent to the organisation (GET /api/v1/events). */
  'events:read',
  /** Edit a metric's metadata: unit, type, description… (PUT /api/v1/metrics/{name}). */
  'metrics:metadata_write',
  /**
   * Read the organisation's relay upstream: mode, site, URLs, the upstream key's last 4
   * (GET /api/v2/rekey/upstream, the UI's Upstream page). Admin only: where the organisation's
   * data goes is an operator's setting. No scope grants it (rekey's own; Datadog has no such permission).
   */
  'upstream:read',
  /**
   * Set the organisation's relay upstream and upstream API key (PUT /api/v2/rekey/upstream, the
   * UI). No scope grants it: the upstream key writes to the real Datadog organisation, and a
   * scoped key that could redirect the data (or replace the key) would reach far beyond its scopes.
   */
  'upstream:write',
] as const;
export type Action = (typeof ACTIONS)[number];

const EVERY_ROLE: readonly Action[] = [
  'api_keys:read',
  'app_keys:read',
  'own_app_keys:read',
  'hosts:read',
  'metrics:query',
  'events:read',
  'own_password:write',
];

/** Roles × actions. Each role has what the role below it has, as Datadog's managed roles do. */
const ROLE_ACTIONS: Record<Role, ReadonlySet<Action>> = {
  read_only: new Set(EVERY_ROLE),
  standard: new Set<Action>([...EVERY_ROLE, 'own_app_keys:write', 'metrics:metadata_write']),
  admin: new Set<Action>(ACTIONS),
};

/**
 * Datadog's permission names (the scopes of a scoped application key) for what rekey serves,
 * and the actions each grants.
 */
export const SCOPE_ACTIONS = {
  api_keys_read: ['api_keys:read'],
  api_keys_write: ['api_keys:write'],
  api_keys_delete: ['api_keys:delete'],
  org_app_keys_read: ['app_keys:read'],
  org_app_keys_write: ['app_keys:write'],
  user_app_keys: ['own_app_keys:read', 'own_app_keys:write'],
  audit_logs_read: ['audit:read'],
  user_access_read: ['users:read'],
  user_access_manage: ['users:write'],
  hosts_read: ['hosts:read'],
  timeseries_query: ['metrics:query'],
  events_read: ['events:read'],
  metrics_metadata_write: ['metrics:metadata_write'],
} as const satisfies Record<string, readonly Action[]>;
export type Scope = keyof typeof SCOPE_ACTIONS;

/**
 * The actions no scope grants: only a UI session or an unscoped application key may do them.
 * Each yields or sets a password, and a password signs in with the user's whole role: a key
 * scoped `hosts_read` that could change (or, scoped `user_access_manage`, reset) a password
 * would become its owner's full session.
 */
export const NO_SCOPE: readonly Action[] = ['users:reset_password', 'own_password:write', 'upstream:read', 'upstream:write'];
export const SCOPES = Object.keys(SCOPE_ACTIONS) as Scope[];

/** Who asks: a user's role and, for an application key, its scopes (null or absent: unscoped). */
export interface Principal {
  role: Role;
  scopes?: readonly string[] | null;
}

/** May `principal` do `action`? Its role must allow it, and a scoped key must have a scope that grants it. */
export function can(principal: Principal, action: Action): boolean {
  if (!ROLE_ACTIONS[principal.role]?.has(action)) return false;
  const scopes = principal.scopes;
  if (scopes === null || scopes === undefined) return true;
  return scopes.some((scope) => isScope(scope) && (SCOPE_ACTIONS[scope] as readonly Action[]).includes(action));
}

/** Does the role alone allow `action` (ignoring scopes)? For explaining a refusal. */
export function roleAllows(role: Role, action: Action): boolean {
  return ROLE_ACTIONS[role]?.has(action) ?? false;
}

/** The least role that allows `action` (for messages). */
export function roleFor(action: Action): Role {
  return ROLE_ACTIONS.read_only.has(action) ? 'read_only' : ROLE_ACTIONS.standard.has(action) ? 'standard' : 'admin';
}

/** The scopes that grant `action` (for messages). */
export function scopesFor(action: Action): Scope[] {
  return SCOPES.filter((scope) => (SCOPE_ACTIONS[scope] as readonly Action[]).includes(action));
}

export function isScope(name: string): name is Scope {
  return Object.prototype.hasOwnProperty.call(SCOPE_ACTIONS, name);
}

/** The names in `scopes` that are not scopes rekey knows (empty when all are known). */
export function unknownScopes(scopes: readonly string[] | null | undefined): string[] {
  return (scopes ?? []).filter((scope) => !isScope(scope));
}

/**
 * May a key with `held` scopes give a key `wanted` scopes? A scoped key must not mint or widen
 * a key beyond its own scopes (an unscoped key, null, is wider than any scoped one).
 */
export function scopesWithin(wanted: readonly string[] | null, held: readonly string[] | null | undefined): boolean {
  if (held === null || held === undefined) return true;
  if (wanted === null) return false;
  return wanted.every((scope) => held.includes(scope));
}
