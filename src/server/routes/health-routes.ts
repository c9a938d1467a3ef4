/**
 * Operations endpoints: `/healthz` (liveness for load balancers) and `/metrics`
 * (Prometheus text format). Neither needs a key; neither reveals one.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../server-context.js';

export async function healthRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get(
    '/healthz',
    { schema: { tags: ['Operations'], summary: 'Liveness', response: { 200: { type: 'object', properties: { status: { type: 'string' }, store: { type: 'string' } } } } } },
    async () => ({ status: 'ok', store: ctx.store.dialect }),
  );

  app.get('/metrics', { schema: { tags: ['Operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
