/**
 * `/api/v1/api_key…`: Datadog's legacy v1 API key endpoints, still called by older tools (the
 * zorkian Go client, older Terraform providers) and by the official client's v1
 * KeyManagementApi. Same keys, same store and same rules as `/api/v2/api_keys` (the
 * never-zero rule: revoking the last active key is 400 LAST_ACTIVE_API_KEY with Datadog's
 * message), in v1's shape: `{"api_key":{"created","created_by","key","name"}}`.
 *
 * One difference from Datadog, forced by keys being stored hashed: Datadog's v1 uses the key
 * itself as its id (in paths, and `key` in every answer). rekey shows a key once, in the
 * creating answer; everywhere else `key` holds the key's id (the v2 UUID). Paths accept either
 * the key or that id, so a client that lists, then renames or deletes what it listed, works.
 *
 * Access (src/access/policy.ts): as v2 — read `api_keys:read`, create/rename `api_keys:write`,
 * delete `api_keys:delete`. Minting goes through src/keys/keys-service.ts.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { parseKey } from '../../keys/key-format.js';
import { KeysService } from '../../keys/keys-service.js';
import type { ApiKey } from '../../store/store.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { countKeyOperation } from '../server-metrics.js';
import { errorResponses, isObjectId } from './json-api-schemas.js';
import { keyNameT } from './typed-schemas.js';
import { v1Created, v1CreatorEmails } from './v1-key-shapes.js';

const v1ApiKeySchema = Type.Object({
  created: Type.String({ description: 'UTC, "YYYY-MM-DD HH:MM:SS" as Datadog v1' }),
  created_by: Type.String({ description: "The creator's email; empty for keys made by the system" }),
  key: Type.String({ description: 'The key in the creating answer only; elsewhere the key id (rekey never shows a key twice)' }),
  name: Type.String(),
});
const oneKey = (description: string) => Type.Object({ api_key: v1ApiKeySchema }, { description });
const nameBody = Type.Object({ name: keyNameT });
const keyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 64, description: 'The key, or its id' }) });
const tags = ['API keys (v1)'];
const ONE_KEY_ERRORS = errorResponses([400, 403, 404, 429]);

/** How many keys one v1 list reads per store page (the store pages at most 100). */
const PAGE = 100;

export async function v1ApiKeyRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, metrics, hasher } = ctx;
  const keys = new KeysService(store, hasher, (operation, run) => countKeyOperation(metrics, operation, run));
  const preHandler = ctx.auth.management;

  /** The v1 shape of `key`; `secret` only in the creating answer. */
  function v1Key(key: ApiKey, emails: Map<string, string>, secret?: string) {
    return {
      created: v1Created(key.createdAt),
      created_by: key.createdBy === null ? '' : (emails.get(key.createdBy) ?? ''),
      key: secret ?? key.id,
      name: key.name,
    };
  }

  async function answer(orgId: string, key: ApiKey, secret?: string) {
    return { api_key: v1Key(key, await v1CreatorEmails(store, orgId, [key.createdBy]), secret) };
  }

  /**
   * The active key that `raw` names in the caller's organisation: its id, or the key itself
   * (looked up by hash). A revoked key is not found, as a deleted one is in Datadog.
   */
  async function resolve(orgId: string, raw: string): Promise<ApiKey> {
    let key: ApiKey | undefined;
    if (isObjectId(raw)) key = await store.getApiKey(orgId, raw);
    else {
      const shaped = parseKey(raw, 'api');
      if (shaped.ok) key = await store.findApiKeyByHash(hasher.hash(shaped.key));
    }
    if (key === undefined || key.orgId !== orgId || key.status !== 'active') throw rekeyError('API_KEY_NOT_FOUND');
    return key;
  }

  app.get(
    '/api/v1/api_key',
    {
      preHandler,
      schema: {
        tags,
        summary: "List the organization's active API keys (v1); key holds each key's id",
        response: {
          200: Type.Object({ api_keys: Type.Array(v1ApiKeySchema) }, { description: 'Every active API key, oldest first' }),
          ...errorResponses([403, 429]),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'listing API keys');
      const all: ApiKey[] = [];
      for (let number = 0; ; number++) {
        const listed = await store.listApiKeys(auth.orgId, { sort: { field: 'created_at', direction: 'asc' }, page: { size: PAGE, number } });
        all.push(...listed.items);
        if (listed.items.length < PAGE || all.length >= listed.totalFiltered) break;
      }
      const emails = await v1CreatorEmails(
        store,
        auth.orgId,
        all.map((key) => key.createdBy),
      );
      return { api_keys: all.map((key) => v1Key(key, emails)) };
    },
  );

  app.post(
    '/api/v1/api_key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Create an API key (v1, admin); the key is returned only here',
        body: nameBody,
        response: {
          200: oneKey('Created; api_key.key is the new key, shown only in this response'),
          ...errorResponses([400, 403, 429], { 400: 'The body is invalid, or the organization already has the maximum number of keys' }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const { key, secret } = await keys.createApiKey(auth, { name: request.body.name });
      return answer(auth.orgId, key, secret);
    },
  );

  app.get(
    '/api/v1/api_key/:key',
    {
      preHandler,
      schema: { tags, summary: 'Get an API key (v1) by the key or its id', params: keyParams, response: { 200: oneKey('The API key'), ...ONE_KEY_ERRORS } },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:read', 'reading an API key');
      return answer(auth.orgId, await resolve(auth.orgId, request.params.key));
    },
  );

  app.put(
    '/api/v1/api_key/:key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Rename an API key (v1, admin) by the key or its id',
        params: keyParams,
        body: nameBody,
        response: { 200: oneKey('The renamed API key'), ...ONE_KEY_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:write', 'renaming an API key');
      const key = await resolve(auth.orgId, request.params.key);
      const renamed = await countKeyOperation(metrics, 'api_key.rename', () => store.renameApiKey(auth.orgId, key.id, request.body.name, auth.actor));
      return answer(auth.orgId, renamed);
    },
  );

  app.delete(
    '/api/v1/api_key/:key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Revoke an API key (v1, admin) by the key or its id; the last active key cannot be revoked',
        params: keyParams,
        response: { 200: oneKey('The revoked API key'), ...errorResponses([400, 403, 404, 429], { 400: 'This is the last active key without an expiry' }) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'api_keys:delete', 'revoking an API key');
      const key = await resolve(auth.orgId, request.params.key);
      const revoked = await countKeyOperation(metrics, 'api_key.revoke', () => store.revokeApiKey(auth.orgId, key.id, auth.actor));
      return answer(auth.orgId, revoked);
    },
  );
}
