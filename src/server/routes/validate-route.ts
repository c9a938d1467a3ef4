/**
 * `GET /api/v1/validate`: Datadog's check of an API key alone → `{"valid":true}`, or 403
 * `{"errors":["Forbidden"]}` for a missing, malformed, unknown, revoked or expired key (429
 * with Retry-After once an address has failed too often).
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
          api_key: Type.Optional(Type.String({ description: 'The API key, when not sent as the DD-API-KEY header (a URL can end up in access logs: prefer the header)' })),
        }),
        response: {
          200: Type.Object({ valid: Type.Optional(Type.Boolean()) }, { description: 'The API key is active: {"valid":true}' }),
          ...errorResponses([403, 429], { 403: 'Forbidden: the API key is missing, malformed, unknown, revoked or expired' }),
        },
      },
    },
    async () => ({ valid: true }),
  );
}
