/**
 * Application keys: `/api/v2/application_keys…` (the organisation's keys) and
 * `/api/v2/current_user/application_keys…` (the caller's own), as Datadog has them.
 *
 * Access (src/access/policy.ts): every role may read the organisation's keys (names and last4
 * only; scope `org_app_keys_read`, or `user_app_keys` for one's own); admin and standard users
 * create and change their own keys (`user_app_keys`); admin may also change or delete any key
 * of the organisation (`org_app_keys_write`); read_only may not write. `scopes` must be
 * Datadog scope names rekey knows (else 400 UNKNOWN_SCOPE), and a scoped key cannot give a
 * key scopes it does not have (403 SCOPE_ESCALATION).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { SCOPES } from '../../access/policy.js';
import { rekeyError } from '../../errors.js';
import { KeysService } from '../../keys/keys-service.js';
import type { AppKey, AppKeyListQuery, User } from '../../store/store.js';
import { appKeyResource, userResource } from '../json-api.js';
import { appKeyListQuerySchema, includeQuerySchema, parseAppKeyListQuery, parseInclude } from '../list-query.js';
import { authOf, authorize, checkRequestedScopes } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { countKeyOperation } from '../server-metrics.js';
import {
  appKeyResourceSchema,
  createdAppKeyResourceSchema,
  errorResponses,
  isObjectId,
  jsonApiDocument,
  jsonApiList,
  noContent,
  userResourceSchema,
} from './json-api-schemas.js';
import { idParamsT, jsonApiBodyT, keyNameT } from './typed-schemas.js';

// `type: ['array', 'null']` as before (TypeBox's Union would be an anyOf, whose 400 messages differ).
const scopesSchema = Type.Unsafe<string[] | null>({
  type: ['array', 'null'],
  items: { type: 'string', minLength: 1, maxLength: 255 },
  maxItems: 100,
  description: `Datadog scope names (${SCOPES.join(', ')}); null or absent: the owner's whole role. Others: 400 UNKNOWN_SCOPE`,
});
const createBody = jsonApiBodyT('application_keys', Type.Object({ name: keyNameT, scopes: Type.Optional(scopesSchema) }));
const changeBody = jsonApiBodyT('application_keys', Type.Object({ name: Type.Optional(keyNameT), scopes: Type.Optional(scopesSchema) }));
const INCLUDES = ['owned_by'] as const;
const includeQuery = includeQuerySchema(INCLUDES);
const tags = ['Application keys'];

/** One application key, with its owner when asked for by `include=owned_by`. */
const oneKey = (description: string) => jsonApiDocument(description, appKeyResourceSchema, userResourceSchema);
const ONE_KEY_ERRORS = errorResponses([400, 403, 404, 429], {
  404: "Not found in the caller's organization (through current_user: not found among the caller's own keys)",
});

type Scope = 'org' | 'current_user';

export async function appKeyRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, metrics } = ctx;
  // Store writes counted in rekey_key_operations_total, as the other key operations; refusals are not.
  const keys = new KeysService(store, ctx.hasher, (operation, run) => countKeyOperation(metrics, operation, run));
  const preHandler = ctx.auth.management;

  async function includedUsers(orgId: string, keys: AppKey[], include: Set<string>) {
    if (!include.has('owned_by')) return [];
    const ids = [...new Set(keys.map((k) => k.ownerId))];
    const users = await Promise.all(ids.map((id) => store.getUser(orgId, id)));
    return users.filter((u) => u !== undefined).map(userResource);
  }

  /** `{ data }` for `key`, with its owner in `included` when `include=owned_by` asks for it. */
  async function single(includeParam: string | undefined, key: AppKey, secret?: string) {
    const include = parseInclude(includeParam, INCLUDES);
    const data = appKeyResource(key, secret);
    return include.size === 0 ? { data } : { data, included: await includedUsers(key.orgId, [key], include) };
  }

  /** The key `id` as the caller may see it through `scope`: another user's key is not found through current_user. */
  async function visible(orgId: string, user: User, id: string, scope: Scope): Promise<AppKey> {
    if (!isObjectId(id)) throw rekeyError('APP_KEY_NOT_FOUND');
    const key = await store.getAppKey(orgId, id);
    if (key === undefined || (scope === 'current_user' && key.ownerId !== user.id)) throw rekeyError('APP_KEY_NOT_FOUND');
    return key;
  }

  /** One's own key: `own_app_keys:write` (or `app_keys:write`); another user's: `app_keys:write`. */
  function mayChange(auth: { user: User; appKey: AppKey }, key: AppKey, what: string): void {
    if (key.ownerId === auth.user.id) authorize(auth, ['own_app_keys:write', 'app_keys:write'], what);
    else authorize(auth, 'app_keys:write', `${what} of another user`);
  }

  /** Through current_user: one's own keys (`user_app_keys`); through the organisation: any (`org_app_keys_read`), or one's own. */
  function mayRead(auth: { user: User; appKey: AppKey }, scope: Scope, key: AppKey | undefined, what: string): void {
    if (scope === 'current_user') authorize(auth, 'own_app_keys:read', what);
    else if (key !== undefined && key.ownerId === auth.user.id) authorize(auth, ['app_keys:read', 'own_app_keys:read'], what);
    else authorize(auth, 'app_keys:read', what);
  }

  /** The owner's id; null when no such user is in the organisation (who then owns nothing here). */
  async function resolveOwner(orgId: string, ownedBy: string | undefined): Promise<string | undefined | null> {
    if (ownedBy === undefined || ownedBy === '') return undefined;
    const user = ownedBy.includes('@') ? await store.findUserByEmail(ownedBy) : isObjectId(ownedBy) ? await store.getUser(orgId, ownedBy) : undefined;
    return user !== undefined && user.orgId === orgId ? user.id : null;
  }

  function registerScoped(scope: Scope, base: string) {
    app.get(
      base,
      {
        preHandler,
        schema: {
          tags,
          summary: scope === 'org' ? "List the organization's application keys" : "List the caller's application keys",
          querystring: appKeyListQuerySchema,
          response: {
            200: jsonApiList('A page of application keys; with include=owned_by, their owners in included', appKeyResourceSchema, {
              included: userResourceSchema,
            }),
            ...errorResponses([400, 403, 429]),
          },
        },
      },
      async (request) => {
        const auth = authOf(request);
        mayRead(auth, scope, undefined, 'listing application keys');
        const include = parseInclude(request.query.include, INCLUDES);
        const query: AppKeyListQuery = parseAppKeyListQuery(request.query);
        const owner = scope === 'current_user' ? auth.user.id : await resolveOwner(auth.orgId, request.query['filter[owned_by]']);
        if (owner !== undefined && owner !== null) query.ownerId = owner;
        const listed = owner === null ? { items: [], totalFiltered: 0 } : await store.listAppKeys(auth.orgId, query);
        return {
          data: listed.items.map((key) => appKeyResource(key)),
          ...(include.size === 0 ? {} : { included: await includedUsers(auth.orgId, listed.items, include) }),
          meta: { page: { total_filtered_count: listed.totalFiltered } },
        };
      },
    );

    app.get(
      `${base}/:id`,
      {
        preHandler,
        schema: {
          tags,
          summary: 'Get an application key',
          params: idParamsT,
          querystring: includeQuery,
          response: { 200: oneKey('The application key (its last4, never the key)'), ...ONE_KEY_ERRORS },
        },
      },
      async (request) => {
        const auth = authOf(request);
        const key = await visible(auth.orgId, auth.user, request.params.id, scope);
        mayRead(auth, scope, key, 'reading an application key');
        return single(request.query.include, key);
      },
    );

    app.patch(
      `${base}/:id`,
      {
        preHandler,
        schema: {
          tags,
          summary: 'Rename an application key or change its scopes',
          params: idParamsT,
          querystring: includeQuery,
          body: changeBody,
          response: { 200: oneKey('The changed application key'), ...ONE_KEY_ERRORS },
        },
      },
      async (request) => {
        const auth = authOf(request);
        const { id } = request.params;
        const { data } = request.body;
        if (data.id !== undefined && data.id !== id) throw rekeyError('BODY_ID_MISMATCH');
        const key = await visible(auth.orgId, auth.user, id, scope);
        mayChange(auth, key, 'changing an application key');
        checkRequestedScopes(auth, data.attributes.scopes);
        const change: { name?: string; scopes?: string[] | null } = {};
        if (data.attributes.name !== undefined) change.name = data.attributes.name;
        if (data.attributes.scopes !== undefined) change.scopes = data.attributes.scopes;
        const updated = await countKeyOperation(metrics, 'app_key.update', () => store.updateAppKey(auth.orgId, id, change, auth.actor));
        return single(request.query.include, updated);
      },
    );

    app.delete(
      `${base}/:id`,
      { preHandler, schema: { tags, summary: 'Delete an application key', params: idParamsT, response: { 204: noContent('Deleted'), ...ONE_KEY_ERRORS } } },
      async (request, reply) => {
        const auth = authOf(request);
        const { id } = request.params;
        const key = await visible(auth.orgId, auth.user, id, scope);
        mayChange(auth, key, 'deleting an application key');
        await countKeyOperation(metrics, 'app_key.delete', () => store.deleteAppKey(auth.orgId, id, auth.actor));
        return reply.code(204).send(null);
      },
    );
  }

  registerScoped('org', '/api/v2/application_keys');
  registerScoped('current_user', '/api/v2/current_user/application_keys');

  app.post(
    '/api/v2/current_user/application_keys',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Create an application key for the caller; the key is returned only here',
        querystring: includeQuery,
        body: createBody,
        response: {
          201: jsonApiDocument('Created; data.attributes.key is the new key, shown only in this response', createdAppKeyResourceSchema, userResourceSchema),
          ...errorResponses([400, 403, 429]),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const { name, scopes } = request.body.data.attributes;
      // The service asks the policy (own_app_keys:write) and refuses scopes beyond the caller's.
      const { key, secret } = await keys.createAppKey(auth, { name, scopes: scopes ?? null });
      return reply.code(201).send(await single(request.query.include, key, secret));
    },
  );
}
