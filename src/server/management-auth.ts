/**
 * Authentication for the management API, as Datadog does it: `DD-API-KEY` names the
 * organisation, `DD-APPLICATION-KEY` names the user acting in it.
 *
 * Each key is checked for shape (`parseKey`) before anything else, so a malformed key
 * costs no database lookup. Then both are looked up by hash on every request: management
 * is not the hot path, and reading the store each time guarantees a revoked or expired
 * key, a deleted application key or a disabled user is refused by the very next request.
 *
 * Every refusal is the same 403 `{"errors":["Forbidden"]}` (what failed is not told to
 * the caller; it is counted in metrics, and audited when the organisation is known), and
 * counts against the caller's address in the failed-authentication throttle.
 *
 * A successful API login is audited as `user.login` (`via: "api"`) once per application
 * key and source address per hour, not per request: the trail shows who used the API from
 * where without one row per call.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { can, NO_SCOPE, roleAllows, roleFor, SCOPES, scopesFor, scopesWithin, unknownScopes, type Action } from '../access/policy.js';
import { rekeyError } from '../errors.js';
import { parseKey, type KeyKind } from '../keys/key-format.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Actor, ApiKey, AppKey, Store, User } from '../store/store.js';
import type { AuthThrottle } from './auth-throttle.js';
import { queryParameter } from './query-parameter.js';
import type { ServerMetrics } from './server-metrics.js';

/** Who is calling, once authenticated. */
export interface ManagementAuth {
  orgId: string;
  apiKey: ApiKey;
  /** Absent for API-key-only routes (validate). */
  appKey?: AppKey;
  user?: User;
  actor: Actor;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: ManagementAuth | null;
  }
}

export type FailureReason =
  'missing_key' | 'malformed_key' | 'unknown_key' | 'revoked_key' | 'expired_key' | 'other_org' | 'user_disabled' | 'app_key_disabled';

export interface Authenticator {
  /** preHandler: both keys required; sets `request.auth` with `user` and `appKey`. */
  management(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** preHandler: the API key alone (header `DD-API-KEY` or query `api_key`). */
  apiKeyOnly(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /**
   * Before a password is checked (the current one, to change it): 429 when the caller's address
   * is throttled; otherwise counted in the failed-authentication throttle now, whatever the
   * outcome, so parallel guesses cannot all be checked and a key cannot guess its owner's
   * password at scrypt speed.
   */
  countPasswordAttempt(request: FastifyRequest, reply: FastifyReply): void;
}

/** How often a continuing API session (same application key, same address) is audited again. */
export const LOGIN_AUDIT_INTERVAL_MS = 60 * 60 * 1000;
const MAX_LOGIN_AUDIT_ENTRIES = 10_000;

export function createAuthenticator(deps: {
  store: Store;
  hasher: KeyHasher;
  throttle: AuthThrottle;
  metrics: ServerMetrics;
  now?: () => Date;
}): Authenticator {
  const { store, hasher, throttle, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  /** `appKeyId ip` → when its login was last audited; bounded, oldest forgotten first. */
  const loginsAudited = new Map<string, number>();

  async function auditLogin(request: FastifyRequest, user: User, appKey: AppKey): Promise<void> {
    const entry = `${appKey.id} ${request.ip}`;
    const at = now().getTime();
    const last = loginsAudited.get(entry);
    if (last !== undefined && at - last < LOGIN_AUDIT_INTERVAL_MS) return;
    loginsAudited.delete(entry);
    loginsAudited.set(entry, at);
    if (loginsAudited.size > MAX_LOGIN_AUDIT_ENTRIES) {
      const oldest = loginsAudited.keys().next().value;
      if (oldest !== undefined) loginsAudited.delete(oldest);
    }
    await store.recordAudit(
      user.orgId,
      'user.login',
      { type: 'user', id: user.id },
      { userId: user.id, kind: 'user', sourceIp: request.ip },
      { via: 'api', app_key_id: appKey.id, app_key_last4: appKey.last4 },
    );
  }

  function refuseIfThrottled(request: FastifyRequest, reply: FastifyReply): void {
    const wait = throttle.retryAfterSeconds(request.ip);
    if (wait > 0) {
      metrics.authThrottled.inc();
      reply.header('Retry-After', String(wait));
      throw rekeyError('RATE_LIMITED', { retryAfterSeconds: wait });
    }
  }

  async function fail(request: FastifyRequest, reason: FailureReason, audit?: { orgId: string; apiKey: ApiKey; userId?: string }): Promise<never> {
    throttle.recordFailure(request.ip);
    metrics.authFailures.inc({ reason });
    request.log.info({ authFailure: reason }, 'authentication refused');
    if (audit !== undefined) {
      await store.recordAudit(
        audit.orgId,
        'user.login_failed',
        { type: 'api_key', id: audit.apiKey.id },
        { userId: audit.userId ?? null, kind: 'user', sourceIp: request.ip },
        { reason, api_key_last4: audit.apiKey.last4 },
      );
    }
    throw rekeyError('FORBIDDEN');
  }

  /** The single header value, or undefined when absent; repeated headers count as malformed. */
  function header(request: FastifyRequest, name: string): string | string[] | undefined {
    return request.headers[name];
  }

  function checkShape(raw: string | string[] | undefined, kind: KeyKind): string | FailureReason {
    if (raw === undefined || raw === '') return 'missing_key';
    if (Array.isArray(raw)) return 'malformed_key';
    const check = parseKey(raw, kind);
    return check.ok ? check.key : 'malformed_key';
  }

  /** The API key `shaped` names, if active and unexpired; otherwise a refusal. */
  async function activeApiKey(request: FastifyRequest, shaped: string): Promise<ApiKey> {
    const apiKey = await store.findApiKeyByHash(hasher.hash(shaped));
    if (apiKey === undefined) return fail(request, 'unknown_key');
    if (apiKey.status !== 'active') return fail(request, 'revoked_key', { orgId: apiKey.orgId, apiKey });
    if (apiKey.expiresAt !== null && apiKey.expiresAt.getTime() <= now().getTime()) {
      return fail(request, 'expired_key', { orgId: apiKey.orgId, apiKey });
    }
    return apiKey;
  }

  const isRefusal = (shaped: string | FailureReason): shaped is 'missing_key' | 'malformed_key' => shaped === 'missing_key' || shaped === 'malformed_key';

  return {
    async management(request, reply) {
      refuseIfThrottled(request, reply);
      // Datadog's v1 endpoints also take the keys as `api_key` / `application_key` query
      // parameters (the zorkian Go client sends them so to some); v2 only as headers.
      const fromQuery = v1QueryKeys(request);
      const rawApi = header(request, 'dd-api-key') ?? fromQuery.api;
      const rawApp = header(request, 'dd-application-key') ?? fromQuery.app;
      // Both shapes first: a malformed key costs no database lookup at all.
      const apiShaped = checkShape(rawApi, 'api');
      if (isRefusal(apiShaped)) return fail(request, apiShaped);
      const appShaped = checkShape(rawApp, 'app');
      if (isRefusal(appShaped)) return fail(request, appShaped);
      // Both lookups at once, the application key's owner read with it: one database round
      // trip in all on PostgreSQL instead of two (the third read was the owner).
      const [apiKey, found] = await Promise.all([activeApiKey(request, apiShaped), store.findAppKeyWithOwnerByHash(hasher.hash(appShaped))]);
      if (found === undefined) return fail(request, 'unknown_key', { orgId: apiKey.orgId, apiKey });
      const { appKey, owner: user } = found;
      if (appKey.orgId !== apiKey.orgId) return fail(request, 'other_org', { orgId: apiKey.orgId, apiKey });
      if (user === undefined || user.disabled) {
        return fail(request, 'user_disabled', { orgId: apiKey.orgId, apiKey, userId: appKey.ownerId });
      }
      // Disabled with its owner (or by a password reset): kept, but refused until re-enabled.
      if (appKey.disabledAt !== null) return fail(request, 'app_key_disabled', { orgId: apiKey.orgId, apiKey, userId: appKey.ownerId });
      await auditLogin(request, user, appKey);
      request.auth = {
        orgId: apiKey.orgId,
        apiKey,
        appKey,
        user,
        actor: { userId: user.id, kind: 'user', sourceIp: request.ip },
      };
    },

    countPasswordAttempt(request, reply) {
      refuseIfThrottled(request, reply);
      throttle.recordFailure(request.ip);
    },

    async apiKeyOnly(request, reply) {
      refuseIfThrottled(request, reply);
      const apiKeyParameter = queryParameter(request.query, 'api_key');
      const fromQuery = typeof apiKeyParameter === 'string' ? apiKeyParameter : undefined;
      const shaped = checkShape(header(request, 'dd-api-key') ?? fromQuery, 'api');
      if (isRefusal(shaped)) return fail(request, shaped);
      const apiKey = await activeApiKey(request, shaped);
      request.auth = { orgId: apiKey.orgId, apiKey, actor: { userId: null, kind: 'user', sourceIp: request.ip } };
    },
  };
}

/** `api_key` and `application_key` from the query string of a `/api/v1/` route; none elsewhere. */
function v1QueryKeys(request: FastifyRequest): { api?: string; app?: string } {
  if (!(request.routeOptions.url ?? '').startsWith('/api/v1/')) return {};
  const api = queryParameter(request.query, 'api_key');
  const app = queryParameter(request.query, 'application_key');
  return { ...(typeof api === 'string' ? { api } : {}), ...(typeof app === 'string' ? { app } : {}) };
}

/** The authenticated caller; throws if a route forgot its auth preHandler (a bug). */
export function authOf(request: FastifyRequest): ManagementAuth & { user: User; appKey: AppKey } {
  const auth = request.auth;
  if (auth === null || auth.user === undefined || auth.appKey === undefined) {
    throw new Error(`route ${request.routeOptions.url} used authOf without the management preHandler`);
  }
  return auth as ManagementAuth & { user: User; appKey: AppKey };
}

/**
 * Throws 403 unless the caller may do one of `actions` (src/access/policy.ts): ROLE_REQUIRED
 * when the user's role does not allow it, SCOPE_REQUIRED when the application key's scopes do
 * not grant it. `what` names the operation in the message ("creating an API key").
 */
export function authorize(auth: { user: User; appKey?: AppKey }, actions: Action | readonly Action[], what: string): void {
  const wanted: readonly Action[] = typeof actions === 'string' ? [actions] : actions;
  const principal = { role: auth.user.role, scopes: auth.appKey?.scopes ?? null };
  if (wanted.some((action) => can(principal, action))) return;
  if (!wanted.some((action) => roleAllows(auth.user.role, action))) {
    throw rekeyError('ROLE_REQUIRED', { role: [...new Set(wanted.map(roleFor))].join(' or '), action: what });
  }
  // Actions no scope grants (a password): only an unscoped key may do them.
  if (wanted.every((action) => NO_SCOPE.includes(action))) throw rekeyError('UNSCOPED_KEY_REQUIRED', { action: what });
  throw rekeyError('SCOPE_REQUIRED', { scopes: [...new Set(wanted.flatMap(scopesFor))].join(' or '), action: what });
}

/**
 * A preHandler that runs after `management`: the route answers only callers that may do
 * `action`. `app.get(url, { preHandler: [ctx.auth.management, requireAction('users:read', 'listing users')] }, …)`.
 */
export function requireAction(action: Action | readonly Action[], what: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => authorize(authOf(request), action, what);
}

/** 400 UNKNOWN_SCOPE for scope names rekey does not know; 403 SCOPE_ESCALATION when a scoped key asks for more than it has. */
export function checkRequestedScopes(auth: { appKey?: AppKey }, scopes: readonly string[] | null | undefined): void {
  if (scopes === undefined) return;
  const unknown = unknownScopes(scopes);
  if (unknown.length > 0) {
    throw rekeyError('UNKNOWN_SCOPE', { scopes: unknown.map((s) => JSON.stringify(s.slice(0, 64))).join(', '), known: SCOPES.join(', ') });
  }
  if (!scopesWithin(scopes, auth.appKey?.scopes)) throw rekeyError('SCOPE_ESCALATION');
}
