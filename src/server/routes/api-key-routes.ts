/**
 * `/api/v2/api_keys…`: Datadog's API key endpoints plus rekey's roll, restore and hosts.
 *
 * Access (src/access/policy.ts): every role may read (`api_keys_read`); only admin may create,
 * rename, restore (`api_keys_write`), revoke (`api_keys_delete`) or roll (both).
 * A key is generated here, returned once in the creating response and handed to the store
 * only as its hash and last4.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { KeysService } from '../../keys/keys-service.js';
import type { ApiKey } from '../../store/store.js';
import { apiKeyResource, keyHostResource, userResource } from '../json-api.js';
import { apiKeyListQuerySchema, dateQueryParam, includeQuerySchema, parseApiKeyListQuery, parseInclude } from '../list-query.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { countKeyOperation } from '../server-metrics.js';
import {
  apiKeyResourceSchema,
  createdApiKeyResourceSchema,
  errorResponses,
  isObjectId,
  jsonApiDocument,
  jsonApiList,
  keyHostResourceSchema,
  noContent,
  userResourceSchema,
} from './json-api-schemas.js';
import { idParamsT, jsonApiBodyT, keyNameT, optionalJsonApiBodyT } from './typed-schemas.js';

/** Default grace period of a roll: the old key keeps working for a day. */
export const DEFAULT_ROLL_GRACE_SECONDS = 24 * 60 * 60;
/** Longest grace period of a roll: 30 days. */
export const MAX_ROLL_GRACE_SECONDS = 30 * 24 * 60 * 60;

/** Datadog's APIKeyCreateAttributes / APIKeyUpdateAttributes: a name, and optionally the key's two settings. */
const settingsBody = jsonApiBodyT(
  'api_keys',
  Type.Object({
    name: keyNameT,
    remote_config_read_enabled: Type.Optional(
      Type.Boolean({ description: "Datadog's Remote Configuration switch: kept and returned (rekey serves no Remote Configuration)" }),
    ),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'A free label (Datadog enumerates none); "default" unless set' })),
  }),
);

/** The settings a create or update body gives (absent ones left as they are). */
function settingsOf(attributes: { name: string; remote_config_read_enabled?: boolean | undefined; category?: string | undefined }) {
  return {
    name: attributes.name,
    ...(attributes.remote_config_read_enabled === undefined ? {} : { remoteConfigReadEnabled: attributes.remote_config_read_enabled }),
    ...(attributes.category === undefined ? {} : { category: attributes.category }),
  };
}
const rollBody = optionalJsonApiBodyT(
  'api_keys',
  Type.Object({ grace_period_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ROLL_GRACE_SECONDS })), name: Type.Optional(keyNameT) }),
);
const hostsQuery = Type.Object({ 'filter[since]': Type.Optional(Type.String({ description: 'ISO 8601; only hosts seen since' })) });
const INCLUDES = ['created_by', 'modified_by'] as const;
const includeQuery = includeQuerySchema(INCLUDES);
const tags = ['API keys'];

/** One API key, with the users asked for by `include=created_by,modified_by`. */
const oneKey = (description: string) => jsonApiDocument(description, apiKeyResourceSchema, userResourceSchema);
const createdKey = (description: string) => jsonApiDocument(description, createdApiKeyResourceSchema, userResourceSchema);
const READ_ERRORS = errorResponses([400, 403, 404, 429]);

export async function apiKeyRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, metrics } = ctx;
  // Store writes counted in rekey_key_operations_total, as the other key operations; refusals are not.
  const keys = new KeysService(store, ctx.hasher, (operation, run) => countKeyOperation(metrics, operation, run));
  const preHandler = ctx.auth.management;

  /** The `included` users for `keys`, when asked for with `include=`. */
  async function includedUsers(orgId: string, keys: ApiKey[], include: Set<string>) {
    const ids = new Set<string>();
    for (const key of keys) {
      if (include.has('created_by') && key.createdBy !== null) ids.add(key.createdBy);
      if (include.has('modified_by') && key.modifiedBy !== null) ids.add(key.modifiedBy);
    }
    const users = await Promise.all([...ids].map((id) => store.getUser(orgId, id)));
    return users.filter((u) => u !== undefined).map(userResource);
  }

  /** `{ data }` for `key`, with `included` users when `include=` asks for them. */
  async function withIncluded(orgId: string, include: string | undefined, key: ApiKey, secret?: string) {
    const wanted = parseInclude(include, INCLUDES);
    const data = apiKeyResource(key, ctx.now(), secret);
    return wanted.size === 0 ? { data } : { data, included: await includedUsers(orgId, [key], wanted) };
  }

  /** The `:id` path parameter; an id that cannot exist is 404 before any query. */
  function keyId(id: string): string {
    if (!isObjectId(id)) throw rekeyError('API_KEY_NOT_FOUND');
    return id;
  }

  async function existing(orgId: string, id: string): Promise<ApiKey> {
    const key = await store.getApiKey(orgId, id);
    if (key === undefined) throw rekeyError('API_KEY_NOT_FOUND');
    return key;
  }

  app.get(
    '/api/v2/api_keys',
    {
      preHandler,
      schema: {
        tags,
        summary: 'List API keys',
        querystring: apiKeyListQuerySchema,
        response: {
          200: jsonApiList('A page of API keys; with include, their creators and modifiers in included', apiKeyResourceSchema, {
            included: userResourceSchema,
          }),
          ...errorResponses([400, 403, 429]),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'listing API keys');
      const include = parseInclude(request.query.include, INCLUDES);
      const listed = await store.listApiKeys(auth.orgId, parseApiKeyListQuery(request.query));
      const now = ctx.now();
      return {
        data: listed.items.map((key) => apiKeyResource(key, now)),
        ...(include.size === 0 ? {} : { included: await includedUsers(auth.orgId, listed.items, include) }),
        meta: { page: { total_filtered_count: listed.totalFiltered } },
      };
    },
  );

  app.post(
    '/api/v2/api_keys',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Create an API key (admin); the key is returned only here',
        // The POST's include= is honoured as on the GET (Datadog documents none; clients may send it).
        querystring: includeQuery,
        body: settingsBody,
        response: {
          201: createdKey('Created; data.attributes.key is the new key, shown only in this response'),
          ...errorResponses([400, 403, 429], { 400: 'The body or include is invalid, or the organization already has the maximum number of keys' }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      // The service asks the policy (api_keys:write) before it mints.
      const { key, secret } = await keys.createApiKey(auth, settingsOf(request.body.data.attributes));
      return reply.code(201).send(await withIncluded(auth.orgId, request.query.include, key, secret));
    },
  );

  app.get(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Get an API key (revoked keys read back with status "revoked")',
        params: idParamsT,
        querystring: includeQuery,
        response: { 200: oneKey('The API key'), ...READ_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'reading an API key');
      const id = keyId(request.params.id);
      return withIncluded(auth.orgId, request.query.include, await existing(auth.orgId, id));
    },
  );

  app.patch(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Rename an API key, or change its remote_config_read_enabled or category (admin)',
        params: idParamsT,
        querystring: includeQuery,
        body: settingsBody,
        response: {
          200: oneKey('The changed API key'),
          ...errorResponses([400, 403, 404, 429], { 400: 'The body is invalid, its id is not the id in the URL, or the key is revoked' }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:write', 'renaming an API key');
      const id = keyId(request.params.id);
      const { data } = request.body;
      if (data.id !== undefined && data.id !== id) throw rekeyError('BODY_ID_MISMATCH');
      const key = await countKeyOperation(metrics, 'api_key.rename', () => store.updateApiKey(auth.orgId, id, settingsOf(data.attributes), auth.actor));
      return withIncluded(auth.orgId, request.query.include, key);
    },
  );

  app.delete(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Revoke an API key (admin); the last active key cannot be revoked',
        params: idParamsT,
        response: {
          204: noContent('Revoked'),
          ...errorResponses([400, 403, 404, 429], { 400: 'The id is invalid, or this is the last active key without an expiry' }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:delete', 'revoking an API key');
      const id = keyId(request.params.id);
      await countKeyOperation(metrics, 'api_key.revoke', () => store.revokeApiKey(auth.orgId, id, auth.actor));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v2/api_keys/:id/roll',
    {
      preHandler,
      // The body is optional (`curl -X POST …/roll` rolls with the default grace period), but a
      // missing body would fail the schema's "must be object": validate it as an empty one.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        tags,
        summary: 'extension: roll an API key (admin): a new key now, the old one expires after grace_period_seconds',
        params: idParamsT,
        body: rollBody,
        response: {
          201: jsonApiDocument(
            'Rolled: data is the new key (attributes.key shown only in this response), included[0] the old key with its expires_at',
            createdApiKeyResourceSchema,
            apiKeyResourceSchema,
          ),
          ...errorResponses([400, 403, 404, 429], {
            400: 'The body is invalid, the key is revoked, or the organization already has the maximum number of keys',
          }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const { id } = request.params;
      // preValidation made an absent body {}; the schema makes every level optional.
      const attributes = request.body.data?.attributes ?? {};
      const graceSeconds = attributes.grace_period_seconds ?? DEFAULT_ROLL_GRACE_SECONDS;
      // Rolling makes a key and revokes the old one: the service asks for both scopes.
      const { previous, replacement, secret } = await keys.rollApiKey(auth, id, {
        ...(attributes.name === undefined ? {} : { name: attributes.name }),
        graceMs: graceSeconds * 1000,
      });
      const now = ctx.now();
      return reply.code(201).send({ data: apiKeyResource(replacement, now, secret), included: [apiKeyResource(previous, now)] });
    },
  );

  app.post(
    '/api/v2/api_keys/:id/restore',
    {
      preHandler,
      schema: {
        tags,
        summary: 'extension: restore a revoked API key within 7 days (admin)',
        params: idParamsT,
        querystring: includeQuery,
        response: {
          200: oneKey('The restored API key, active again'),
          ...errorResponses([400, 403, 404, 429], {
            400: 'The key is not revoked, was revoked more than 7 days ago, or the organization already has the maximum number of keys',
          }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:write', 'restoring an API key');
      const id = keyId(request.params.id);
      const key = await countKeyOperation(metrics, 'api_key.restore', () => store.restoreApiKey(auth.orgId, id, auth.actor));
      return withIncluded(auth.orgId, request.query.include, key);
    },
  );

  app.get(
    '/api/v2/api_keys/:id/hosts',
    {
      preHandler,
      schema: {
        tags,
        summary: 'extension: the hosts that used an API key (host, first_seen, last_seen, points, agent_version)',
        params: idParamsT,
        querystring: hostsQuery,
        response: { 200: jsonApiList('The hosts that used the key, most recently seen first', keyHostResourceSchema), ...READ_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'listing the hosts of an API key');
      const id = keyId(request.params.id);
      await existing(auth.orgId, id);
      const since = dateQueryParam('filter[since]', request.query['filter[since]'], 'use ISO 8601');
      const hosts = await store.listKeyHosts(auth.orgId, id, since);
      return { data: hosts.map(keyHostResource), meta: { page: { total_filtered_count: hosts.length } } };
    },
  );
}
