/**
 * `GET /api/v1/validate`: Datadog's check of an API key alone → `{"valid":true}`, or 403
 * `{"errors":["Forbidden"]}` for a missing, malformed, unknown, revoked or expired key.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ServerContext } from '../server-context.js';

export async function validateRoute(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v1/validate',
    {
      preHandler: ctx.auth.apiKeyOnly,
      schema: {
        tags: ['Authentication'],
        summary: 'Check an API key (header DD-API-KEY or query api_key)',
        response: { 200: Type.Object({ valid: Type.Optional(Type.Boolean()) }) },
      },
    },
    async () => ({ valid: true }),
  );
}
