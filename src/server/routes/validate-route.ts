/**
 * `GET /api/v1/validate`: Datadog's check of an API key alone → `{"valid":true}`, or 403
 * `{"errors":["Forbidden"]}` for a missing, malformed, unknown, revoked or expired key.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../server-context.js';

export async function validateRoute(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get(
    '/api/v1/validate',
    {
      preHandler: ctx.auth.apiKeyOnly,
      schema: {
        tags: ['Authentication'],
        summary: 'Check an API key (header DD-API-KEY or query api_key)',
        response: { 200: { type: 'object', properties: { valid: { type: 'boolean' } } } },
      },
    },
    async () => ({ valid: true }),
  );
}
