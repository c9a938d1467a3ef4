/**
 * `/api/v1/application_key…`: Datadog's legacy v1 application key endpoints (zorkian Go client,
 * the official client's v1 KeyManagementApi), over the same keys as `/api/v2/application_keys`,
 * in v1's shape: `{"application_key":{"hash","name","owner"}}`, `owner` the owner's email.
 *
 * As with v1 API keys (v1-api-key-routes.ts), Datadog's v1 uses the key itself as its id
 * (`hash`). rekey shows a key once, in the creating answer; elsewhere `hash` holds the key's id
 * (the v2 UUID), and paths accept either the key or that id.
 *
 * Access (src/access/policy.ts), as v2: list and read the organisation's keys
 * (`org_app_keys_read`, or `user_app_keys` for one's own); create one's own key
 * (`user_app_keys`; a v1 key has no scopes, so a scoped caller cannot create one: 403
 * SCOPE_ESCALATION); rename or delete one's own (`user_app_keys`) or, admin, anyone's
 * (`org_app_keys_write`). Minting goes through src/keys/keys-service.ts.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { can, type Action } from '../../access/policy.js';
import { rekeyError } from '../../errors.js';
import { parseKey } from '../../keys/key-format.js';
import { KeysService } from '../../keys/keys-service.js';
import type { AppKey, User } from '../../store/store.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { countKeyOperation } from '../server-metrics.js';
import { errorResponses, isObjectId } from './json-api-schemas.js';
import { keyNameT } from './typed-schemas.js';
import { v1CreatorEmails } from './v1-key-shapes.js';

const v1AppKeySchema = Type.Object({
  hash: Type.String({ description: 'The key in the creating answer only; elsewhere the key id (rekey never shows a key twice)' }),
  name: Type.String(),
  owner: Type.String({ description: "The owner's email" }),
});
const oneKey = (description: string) => Type.Object({ application_key: v1AppKeySchema }, { description });
const nameBody = Type.Object({ name: keyNameT });
const keyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 64, description: 'The key, or its id' }) });
const tags = ['Application keys (v1)'];
const ONE_KEY_ERRORS = errorResponses([400, 403, 404, 429]);
const PAGE = 100;

export async function v1AppKeyRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, metrics, hasher } = ctx;
  const keys = new KeysService(store, hasher, (operation, run) => countKeyOperation(metrics, operation, run));
  const preHandler = ctx.auth.management;

  function v1Key(key: AppKey, emails: Map<string, string>, secret?: string) {
    return { hash: secret ?? key.id, name: key.name, owner: emails.get(key.ownerId) ?? '' };
  }

  async function answer(orgId: string, key: AppKey, secret?: string) {
    return { application_key: v1Key(key, await v1CreatorEmails(store, orgId, [key.ownerId]), secret) };
  }

  /** The key `raw` names in the caller's organisation: its id, or the key itself (by hash). */
  async function resolve(orgId: string, raw: string): Promise<AppKey> {
    let key: AppKey | undefined;
    if (isObjectId(raw)) key = await store.getAppKey(orgId, raw);
    else {
      const shaped = parseKey(raw, 'app');
      if (shaped.ok) key = await store.findAppKeyByHash(hasher.hash(shaped.key));
    }
    if (key === undefined || key.orgId !== orgId) throw rekeyError('APP_KEY_NOT_FOUND');
    return key;
  }

  /** Reading: any key with `app_keys:read`, one's own with `own_app_keys:read` too. */
  function mayRead(auth: { user: User; appKey: AppKey }, key: AppKey | undefined, what: string): void {
    const actions: Action[] = key !== undefined && key.ownerId === auth.user.id ? ['app_keys:read', 'own_app_keys:read'] : ['app_keys:read'];
    authorize(auth, actions, what);
  }

  /** Changing: one's own with `own_app_keys:write` (or `app_keys:write`); another user's with `app_keys:write`. */
  function mayChange(auth: { user: User; appKey: AppKey }, key: AppKey, what: string): void {
    if (key.ownerId === auth.user.id) authorize(auth, ['own_app_keys:write', 'app_keys:write'], what);
    else authorize(auth, 'app_keys:write', `${what} of another user`);
  }

  app.get(
    '/api/v1/application_key',
    {
      preHandler,
      schema: {
        tags,
        summary: "List the organization's application keys (v1); hash holds each key's id",
        response: {
          200: Type.Object({ application_keys: Type.Array(v1AppKeySchema) }, { description: 'Every application key, oldest first' }),
          ...errorResponses([403, 429]),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      // With only user_app_keys, the caller's own keys (Datadog: org_app_keys_read or user_app_keys).
      authorize(auth, ['app_keys:read', 'own_app_keys:read'], 'listing application keys');
      const wholeOrg = can({ role: auth.user.role, scopes: auth.appKey.scopes }, 'app_keys:read');
      const ownerId = wholeOrg ? undefined : auth.user.id;
      const all: AppKey[] = [];
      for (let number = 0; ; number++) {
        const listed = await store.listAppKeys(auth.orgId, {
          ...(ownerId === undefined ? {} : { ownerId }),
          sort: { field: 'created_at', direction: 'asc' },
          page: { size: PAGE, number },
        });
        all.push(...listed.items);
        if (listed.items.length < PAGE || all.length >= listed.totalFiltered) break;
      }
      const emails = await v1CreatorEmails(
        store,
        auth.orgId,
        all.map((key) => key.ownerId),
      );
      return { application_keys: all.map((key) => v1Key(key, emails)) };
    },
  );

  app.post(
    '/api/v1/application_key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Create an application key for the caller (v1); the key is returned only here',
        body: nameBody,
        response: { 200: oneKey('Created; application_key.hash is the new key, shown only in this response'), ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      // v1 has no scopes: the new key has the owner's whole role (a scoped caller is refused).
      const { key, secret } = await keys.createAppKey(auth, { name: request.body.name, scopes: null });
      return answer(auth.orgId, key, secret);
    },
  );

  app.get(
    '/api/v1/application_key/:key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Get an application key (v1) by the key or its id',
        params: keyParams,
        response: { 200: oneKey('The application key'), ...ONE_KEY_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const key = await resolve(auth.orgId, request.params.key);
      mayRead(auth, key, 'reading an application key');
      return answer(auth.orgId, key);
    },
  );

  app.put(
    '/api/v1/application_key/:key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Rename an application key (v1) by the key or its id',
        params: keyParams,
        body: nameBody,
        response: { 200: oneKey('The renamed application key'), ...ONE_KEY_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const key = await resolve(auth.orgId, request.params.key);
      mayChange(auth, key, 'changing an application key');
      const renamed = await countKeyOperation(metrics, 'app_key.update', () => store.updateAppKey(auth.orgId, key.id, { name: request.body.name }, auth.actor));
      return answer(auth.orgId, renamed);
    },
  );

  app.delete(
    '/api/v1/application_key/:key',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Delete an application key (v1) by the key or its id',
        params: keyParams,
        response: { 200: oneKey('The deleted application key'), ...ONE_KEY_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const key = await resolve(auth.orgId, request.params.key);
      mayChange(auth, key, 'deleting an application key');
      const body = await answer(auth.orgId, key);
      await countKeyOperation(metrics, 'app_key.delete', () => store.deleteAppKey(auth.orgId, key.id, auth.actor));
      return body;
    },
  );
}
