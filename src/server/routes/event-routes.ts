/**
 * `GET /api/v1/events` and `GET /api/v1/events/{event_id}`: the events the intake stored, in
 * Datadog's v1 shapes (src/intake/event-payload.ts). Management auth and `events:read`
 * (src/access/policy.ts).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { eventJson } from '../../intake/event-payload.js';
import type { EventPriority } from '../../intake/event-store.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { epochSecondsT } from './query-routes.js';

const eventsQuery = Type.Object({
  start: epochSecondsT('Oldest event time, seconds since the epoch'),
  end: epochSecondsT('Newest event time, seconds since the epoch'),
  priority: Type.Optional(Type.Union([Type.Literal('normal'), Type.Literal('low')])),
  sources: Type.Optional(Type.String({ description: 'Comma-separated source type names, any of' })),
  tags: Type.Optional(Type.String({ description: 'Comma-separated tags, all of' })),
  page: Type.Integer({ minimum: 0, default: 0, description: '0-based, 1,000 events per page' }),
});

const eventParams = Type.Object({ event_id: Type.Integer({ minimum: 0 }) });

export async function eventRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const preHandler = [ctx.auth.management, requireAction('events:read', 'reading events')];

  app.get(
    '/api/v1/events',
    {
      preHandler,
      schema: {
        summary: 'List events (Datadog v1)',
        querystring: eventsQuery,
        description:
          '`start` and `end` (epoch seconds, required); `priority` (normal, low), `sources` (comma-separated source type names, any of), `tags` (comma-separated, all of), `page` (0-based, 1,000 per page). Newest first. 200 `{"events":[…],"status":"ok"}`.',
      },
    },
    async (request, reply) => {
      const { orgId } = authOf(request);
      const { start, end, priority, sources, tags, page } = request.query;
      if (end < start) throw rekeyError('INVALID_QUERY', { detail: '"end" is before "start"' });
      const events = await intake.events.list({ orgId, start, end, ...(priority === undefined ? {} : { priority: priority satisfies EventPriority }), sources: listParam(sources), tags: listParam(tags), page });
      return reply.send({ events: events.map(eventJson), status: 'ok' });
    },
  );

  app.get(
    '/api/v1/events/:event_id',
    { preHandler, schema: { params: eventParams, summary: 'Get an event (Datadog v1)', description: '200 `{"event":{…}}`; 404 when no event of the caller\'s organisation has that id.' } },
    async (request, reply) => {
      const { orgId } = authOf(request);
      const event = await intake.events.get(orgId, request.params.event_id);
      if (event === undefined) throw rekeyError('NOT_FOUND');
      return reply.send({ event: eventJson(event) });
    },
  );
}

/** `a,b , c` → ['a', 'b', 'c']; absent → []. */
function listParam(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
