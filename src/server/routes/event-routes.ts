/**
 * `GET /api/v1/events` and `GET /api/v1/events/{event_id}`: the events the intake stored, in
 * Datadog's v1 shapes (src/intake/event-payload.ts). Management auth and `events:read`
 * (src/access/policy.ts).
 */
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import { eventJson } from '../../intake/event-payload.js';
import type { EventPriority } from '../../intake/event-store.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { integerParam } from './integer-param.js';

export async function eventRoutes(app: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const preHandler = [ctx.auth.management, requireAction('events:read', 'reading events')];

  app.get(
    '/api/v1/events',
    {
      preHandler,
      schema: {
        summary: 'List events (Datadog v1)',
        description:
          '`start` and `end` (epoch seconds, required); `priority` (normal, low), `sources` (comma-separated source type names, any of), `tags` (comma-separated, all of), `page` (0-based, 1,000 per page). Newest first. 200 `{"events":[…],"status":"ok"}`.',
      },
    },
    async (request, reply) => {
      const { orgId } = authOf(request);
      const query = request.query as Record<string, unknown>;
      const start = integerParam(query.start, 'start');
      const end = integerParam(query.end, 'end');
      if (end < start) throw rekeyError('INVALID_QUERY', { detail: '"end" is before "start"' });
      let priority: EventPriority | undefined;
      if (query.priority !== undefined) {
        if (query.priority !== 'normal' && query.priority !== 'low') throw rekeyError('INVALID_QUERY', { detail: '"priority" must be "normal" or "low"' });
        priority = query.priority;
      }
      const page = query.page === undefined ? 0 : integerParam(query.page, 'page');
      if (page < 0) throw rekeyError('INVALID_QUERY', { detail: '"page" must not be negative' });
      const events = await intake.events.list({ orgId, start, end, ...(priority === undefined ? {} : { priority }), sources: listParam(query.sources), tags: listParam(query.tags), page });
      return reply.send({ events: events.map(eventJson), status: 'ok' });
    },
  );

  app.get(
    '/api/v1/events/:event_id',
    { preHandler, schema: { summary: 'Get an event (Datadog v1)', description: '200 `{"event":{…}}`; 404 when no event of the caller\'s organisation has that id.' } },
    async (request, reply) => {
      const { orgId } = authOf(request);
      const id = integerParam((request.params as Record<string, unknown>).event_id, 'event_id');
      const event = await intake.events.get(orgId, id);
      if (event === undefined) throw rekeyError('NOT_FOUND');
      return reply.send({ event: eventJson(event) });
    },
  );
}

/** `a,b , c` → ['a', 'b', 'c']; absent → []. */
function listParam(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
