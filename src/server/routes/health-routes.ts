/**
 * Operations endpoints: `/healthz` (readiness: can this node serve? 503 while its database is
 * unreachable, so a load balancer stops sending it traffic), `/livez` (liveness: the process
 * answers; never touches the database, so an orchestrator does not restart every node during
 * a database outage) and `/metrics` (Prometheus text format). None needs a key; none reveals one.
 */
import type { FastifyInstance } from 'fastify';
import { asDatabaseUnavailable } from '../../store/postgres-adapter.js';
import type { ServerContext } from '../server-context.js';

/** `/healthz` asks the database at most this often; requests in between get the last answer. */
export const HEALTH_PROBE_INTERVAL_MS = 1000;
/** A probe that takes longer than this counts as "unreachable" (a hung connection, a full pool). */
export const HEALTH_PROBE_TIMEOUT_MS = 2000;

interface ProbeResult {
  at: number;
  error: string | undefined;
}

const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, store: { type: 'string' }, errors: { type: 'array', items: { type: 'string' } } },
} as const;

export async function healthRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const probe = cachedProbe(ctx);

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Operations'],
        summary:
          'Readiness: 200 when the database answers (status "degraded" with errors when, e.g., the relay\'s upstream refuses its key), 503 (with Retry-After) when it does not',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      const error = await probe();
      const problems = ctx.problems?.() ?? [];
      // Degraded is still 200: the node serves (a relay spools what it cannot deliver yet).
      if (error === undefined)
        return problems.length === 0 ? { status: 'ok', store: ctx.store.dialect } : { status: 'degraded', store: ctx.store.dialect, errors: problems };
      return reply.code(503).send({ status: 'unavailable', store: ctx.store.dialect, errors: [error] });
    },
  );

  app.get(
    '/livez',
    {
      schema: {
        tags: ['Operations'],
        summary: 'Liveness: 200 while the process runs; never asks the database',
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get('/metrics', { schema: { tags: ['Operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}

/**
 * One cheap query (`isInitialised`: one indexed row) at most once per HEALTH_PROBE_INTERVAL_MS
 * by the server's clock; concurrent health checks share the query in flight, so a load
 * balancer probing every node many times a second costs the database one query a second.
 */
function cachedProbe(ctx: ServerContext): () => Promise<string | undefined> {
  let last: ProbeResult | undefined;
  let inFlight: Promise<string | undefined> | undefined;
  return () => {
    const now = ctx.now().getTime();
    if (last !== undefined && now - last.at < HEALTH_PROBE_INTERVAL_MS && now >= last.at) return Promise.resolve(last.error);
    inFlight ??= runProbe(ctx).then((error) => {
      last = { at: ctx.now().getTime(), error };
      inFlight = undefined;
      return error;
    });
    return inFlight;
  };
}

async function runProbe(ctx: ServerContext): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the database did not answer within ${HEALTH_PROBE_TIMEOUT_MS} ms`), HEALTH_PROBE_TIMEOUT_MS);
    timer.unref();
  });
  const query = ctx.store.isInitialised().then(
    () => undefined,
    (error: unknown) => (asDatabaseUnavailable(error) ?? { message: 'the database query failed' }).message,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
