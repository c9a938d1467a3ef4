/**
 * `/api/v2/api_keys…`: Datadog's API key endpoints plus rekey's roll, restore and hosts.
 *
 * Access (src/access/policy.ts): every role may read (`api_keys_read`); only admin may create,
 * rename, restore (`api_keys_write`), revoke (`api_keys_delete`) or roll (both).
 * A key is generated here, returned once in the creating response and handed to the store
 * only as its hash and last4.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rekeyError } from '../../errors.js';
import { generateKey, last4 } from '../../keys/key-format.js';
import type { ApiKey } from '../../store/store.js';
import { apiKeyResource, keyHostResource, userResource } from '../json-api.js';
import { apiKeyListQuerySchema, parseApiKeyListQuery, parseInclude, type RawListQuery } from '../list-query.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { countKeyOperation } from '../server-metrics.js';
import {
  apiKeyResourceSchema,
  createdApiKeyResourceSchema,
  errorResponses,
  idParams,
  isObjectId,
  jsonApiBody,
  jsonApiDocument,
  jsonApiList,
  keyHostResourceSchema,
  noContent,
  userResourceSchema,
} from './json-api-schemas.js';

/** Default grace period of a roll: the old key keeps working for a day. */
export const DEFAULT_ROLL_GRACE_SECONDS = 24 * 60 * 60;
/** Longest grace period of a roll: 30 days. */
export const MAX_ROLL_GRACE_SECONDS = 30 * 24 * 60 * 60;

const nameSchema = { type: 'string', minLength: 1, maxLength: 255 } as const;
const INCLUDES = ['created_by', 'modified_by'] as const;
const tags = ['API keys'];

/** One API key, with the users asked for by `include=created_by,modified_by`. */
const oneKey = (description: string) => jsonApiDocument(description, apiKeyResourceSchema, userResourceSchema);
const createdKey = (description: string) => jsonApiDocument(description, createdApiKeyResourceSchema, userResourceSchema);
const READ_ERRORS = errorResponses([400, 403, 404, 429]);

export async function apiKeyRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { store, hasher, metrics } = ctx;
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

  async function withIncluded(request: FastifyRequest, key: ApiKey, secret?: string) {
    const auth = authOf(request);
    const include = parseInclude(request.query as RawListQuery, INCLUDES);
    const data = apiKeyResource(key, ctx.now(), secret);
    return include.size === 0 ? { data } : { data, included: await includedUsers(auth.orgId, [key], include) };
  }

  /** The `:id` path parameter; an id that cannot exist is 404 before any query. */
  function keyId(request: FastifyRequest): string {
    const { id } = request.params as { id: string };
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
          200: jsonApiList('A page of API keys; with include, their creators and modifiers in included', apiKeyResourceSchema, { included: userResourceSchema }),
          ...errorResponses([400, 403, 429]),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'listing API keys');
      const raw = request.query as RawListQuery;
      const include = parseInclude(raw, INCLUDES);
      const listed = await store.listApiKeys(auth.orgId, parseApiKeyListQuery(raw));
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
        body: jsonApiBody('api_keys', { name: nameSchema }, { requireAttributes: ['name'] }),
        response: {
          201: createdKey('Created; data.attributes.key is the new key, shown only in this response'),
          ...errorResponses([400, 403, 429], { 400: 'The body or include is invalid, or the organization already has the maximum number of keys' }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:write', 'creating an API key');
      const { name } = (request.body as { data: { attributes: { name: string } } }).data.attributes;
      const secret = generateKey('api');
      const key = await countKeyOperation(metrics, 'api_key.create', () =>
        store.createApiKey(auth.orgId, { name, hash: hasher.hash(secret), last4: last4(secret) }, auth.actor),
      );
      return reply.code(201).send(await withIncluded(request, key, secret));
    },
  );

  app.get(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Get an API key (revoked keys read back with status "revoked")',
        params: idParams,
        querystring: { type: 'object', properties: { include: { type: 'string' } } },
        response: { 200: oneKey('The API key'), ...READ_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'reading an API key');
      const id = keyId(request);
      return withIncluded(request, await existing(auth.orgId, id));
    },
  );

  app.patch(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Rename an API key (admin)',
        params: idParams,
        body: jsonApiBody('api_keys', { name: nameSchema }, { requireAttributes: ['name'] }),
        response: {
          200: oneKey('The renamed API key'),
          ...errorResponses([400, 403, 404, 429], { 400: 'The body is invalid, its id is not the id in the URL, or the key is revoked' }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:write', 'renaming an API key');
      const id = keyId(request);
      const data = (request.body as { data: { id?: string; attributes: { name: string } } }).data;
      if (data.id !== undefined && data.id !== id) throw rekeyError('BODY_ID_MISMATCH');
      const key = await countKeyOperation(metrics, 'api_key.rename', () => store.renameApiKey(auth.orgId, id, data.attributes.name, auth.actor));
      return withIncluded(request, key);
    },
  );

  app.delete(
    '/api/v2/api_keys/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Revoke an API key (admin); the last active key cannot be revoked',
        params: idParams,
        response: {
          204: noContent('Revoked'),
          ...errorResponses([400, 403, 404, 429], { 400: 'The id is invalid, or this is the last active key without an expiry' }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:delete', 'revoking an API key');
      const id = keyId(request);
      await countKeyOperation(metrics, 'api_key.revoke', () => store.revokeApiKey(auth.orgId, id, auth.actor));
      return reply.code(204).send();
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
        params: idParams,
        body: jsonApiBody(
          'api_keys',
          { grace_period_seconds: { type: 'integer', minimum: 0, maximum: MAX_ROLL_GRACE_SECONDS }, name: nameSchema },
          { optional: true },
        ),
        response: {
          201: jsonApiDocument(
            'Rolled: data is the new key (attributes.key shown only in this response), included[0] the old key with its expires_at',
            createdApiKeyResourceSchema,
            apiKeyResourceSchema,
          ),
          ...errorResponses([400, 403, 404, 429], { 400: 'The body is invalid, the key is revoked, or the organization already has the maximum number of keys' }),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      // Rolling makes a key and revokes the old one: both scopes.
      authorize(auth, 'api_keys:write', 'rolling an API key');
      authorize(auth, 'api_keys:delete', 'rolling an API key');
      const id = keyId(request);
      const attributes = (request.body as { data?: { attributes?: { grace_period_seconds?: number; name?: string } } } | undefined)?.data?.attributes ?? {};
      const graceSeconds = attributes.grace_period_seconds ?? DEFAULT_ROLL_GRACE_SECONDS;
      const secret = generateKey('api');
      const { previous, replacement } = await countKeyOperation(metrics, 'api_key.roll', () =>
        store.rollApiKey(
          auth.orgId,
          id,
          { ...(attributes.name === undefined ? {} : { name: attributes.name }), hash: hasher.hash(secret), last4: last4(secret) },
          graceSeconds * 1000,
          auth.actor,
        ),
      );
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
        params: idParams,
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
      const id = keyId(request);
      const key = await countKeyOperation(metrics, 'api_key.restore', () => store.restoreApiKey(auth.orgId, id, auth.actor));
      return withIncluded(request, key);
    },
  );

  app.get(
    '/api/v2/api_keys/:id/hosts',
    {
      preHandler,
      schema: {
        tags,
        summary: 'extension: the hosts that used an API key (host, first_seen, last_seen, points, agent_version)',
        params: idParams,
        querystring: { type: 'object', properties: { 'filter[since]': { type: 'string', description: 'ISO 8601; only hosts seen since' } } },
        response: { 200: jsonApiList('The hosts that used the key, most recently seen first', keyHostResourceSchema), ...READ_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'listing the hosts of an API key');
      const id = keyId(request);
      await existing(auth.orgId, id);
      const rawSince = (request.query as RawListQuery)['filter[since]'];
      let since: Date | undefined;
      if (rawSince !== undefined && rawSince !== '') {
        since = new Date(String(rawSince));
        if (Number.isNaN(since.getTime())) throw rekeyError('BAD_REQUEST', { detail: 'filter[since] is not a date; use ISO 8601' });
      }
      const hosts = await store.listKeyHosts(auth.orgId, id, since);
      return { data: hosts.map(keyHostResource), meta: { page: { total_filtered_count: hosts.length } } };
    },
  );
}
