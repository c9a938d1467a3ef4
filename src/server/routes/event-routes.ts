/**
 * `GET /api/v1/events` and `GET /api/v1/events/{event_id}`: the events the intake stored, in
 * Datadog's v1 shapes (src/intake/event-payload.ts). Management auth and `events:read`
 * (src/access/policy.ts).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { EVENT_SCHEMA, eventJson } from '../../intake/event-payload.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';
import { epochSecondsT } from './query-routes.js';

const listQuery = Type.Object({
  start: epochSecondsT('Events that happened at or after this time, seconds since the epoch'),
  end: epochSecondsT('Events that happened at or before this time, seconds since the epoch'),
  priority: Type.Optional(Type.Union([Type.Literal('normal'), Type.Literal('low')])),
  sources: Type.Optional(Type.String({ description: 'Comma-separated source type names (any of)' })),
  tags: Type.Optional(Type.String({ description: 'Comma-separated tags (all of)' })),
  unaggregated: Type.Optional(Type.Boolean({ description: 'Accepted for compatibility; events are never aggregated here' })),
  exclude_aggregate: Type.Optional(Type.Boolean({ description: 'Accepted for compatibility' })),
  page: Type.Integer({ minimum: 0, default: 0, description: '0-based page of 1,000 events' }),
});

export async function eventRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const preHandler = [ctx.auth.management, requireAction('events:read', 'reading events')];

  app.get(
    '/api/v1/events',
    {
      preHandler,
      schema: {
        tags: ['Intake and metrics'],
        summary: 'List events (Datadog v1)',
        description: 'Newest first, at most 1,000 per page.',
        querystring: listQuery,
        response: {
          200: Type.Object({ events: Type.Array(EVENT_SCHEMA), status: Type.String() }, { description: "Datadog's EventListResponse" }),
          ...errorResponses([400, 403, 429]),
        },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { start, end, priority, sources, tags, page } = request.query;
      if (end < start) throw rekeyError('INVALID_QUERY', { detail: '"end" is before "start"' });
      const events = await intake.events.list({
        orgId,
        start,
        end,
        ...(priority === undefined ? {} : { priority }),
        sources: listParam(sources),
        tags: listParam(tags),
        page,
      });
      return { events: events.map(eventJson), status: 'ok' };
    },
  );

  app.get(
    '/api/v1/events/:event_id',
    {
      preHandler,
      schema: {
        tags: ['Intake and metrics'],
        summary: 'Get an event (Datadog v1)',
        params: Type.Object({ event_id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Object({ event: EVENT_SCHEMA }, { description: "Datadog's EventResponse" }), ...errorResponses([400, 403, 404, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const event = await intake.events.get(orgId, request.params.event_id);
      if (event === undefined) throw rekeyError('NOT_FOUND');
      return { event: eventJson(event) };
    },
  );
}

/** `a,b , c` → ['a', 'b', 'c']; absent → []. */
function listParam(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
