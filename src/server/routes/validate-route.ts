/**
 * `GET /api/v1/validate`: Datadog's check of an API key alone → `{"valid":true}`, or 403
 * `{"errors":["Forbidden"]}` for a missing, malformed, unknown, revoked or expired key (429
 * with Retry-After once an address has failed too often). The official client's v2 forms
 * answer the same check in their shapes: `GET /api/v2/validate_keys` → `{"status":"ok"}`,
 * `GET /api/v2/validate` → the key's id (rekey's API keys carry no scopes: `api_key_scopes` is
 * empty).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';

export async function validateRoute(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v1/validate',
    {
      preHandler: ctx.auth.apiKeyOnly,
      schema: {
        tags: ['Authentication'],
        summary: 'Check an API key (header DD-API-KEY or query api_key)',
        // The API key alone; no application key.
        security: [{ apiKeyAuth: [] }],
        querystring: Type.Object({
          api_key: Type.Optional(
            Type.String({ description: 'The API key, when not sent as the DD-API-KEY header (a URL can end up in access logs: prefer the header)' }),
          ),
        }),
        response: {
          200: Type.Object({ valid: Type.Optional(Type.Boolean()) }, { description: 'The API key is active: {"valid":true}' }),
          ...errorResponses([403, 429], { 403: 'Forbidden: the API key is missing, malformed, unknown, revoked or expired' }),
        },
      },
    },
    async () => ({ valid: true }),
  );

  const apiKeyOnly = { preHandler: ctx.auth.apiKeyOnly };
  const v2Errors = errorResponses([403, 429], { 403: 'Forbidden: the API key is missing, malformed, unknown, revoked or expired' });
  app.get(
    '/api/v2/validate_keys',
    {
      ...apiKeyOnly,
      schema: {
        tags: ['Authentication'],
        summary: 'Check an API key (v2): {"status":"ok"}',
        security: [{ apiKeyAuth: [] }],
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The API key is active' }), ...v2Errors },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/api/v2/validate',
    {
      ...apiKeyOnly,
      schema: {
        tags: ['Authentication'],
        summary: "Check an API key (v2): the key's id",
        security: [{ apiKeyAuth: [] }],
        response: {
          200: Type.Object(
            {
              data: Type.Object({
                id: Type.String(),
                type: Type.Literal('validate_v2'),
                attributes: Type.Object({ api_key_id: Type.String(), api_key_scopes: Type.Array(Type.String()), valid: Type.Boolean() }),
              }),
            },
            { description: 'The API key is active' },
          ),
          ...v2Errors,
        },
      },
    },
    async (request) => {
      const id = request.auth!.apiKey.id;
      return { data: { id, type: 'validate_v2' as const, attributes: { api_key_id: id, api_key_scopes: [], valid: true } } };
    },
  );
}
