/**
 * Datadog's v1 events API on the intake (event-payload.ts gives the shapes):
 *
 *   POST /api/v1/events        one event, DD-API-KEY          → 202 {"status":"ok","event":{…}}
 *   GET  /api/v1/events        start, end (required), priority, sources, tags, page
 *                              (management auth)             → 200 {"events":[…],"status":"ok"}
 *   GET  /api/v1/events/{id}   (management auth)              → 200 {"event":{…}}, 404 when not the caller's
 *
 * Events the Agent sends inside `/intake/` payloads are stored by the intake route through
 * the same EventStore (intake-plugin.ts calls decodeIntakeEvents).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rekeyError } from '../errors.js';
import { decodeEventCreate, eventJson } from './event-payload.js';
import type { EventPriority, EventStore } from './event-store.js';
import type { IntakeLimits } from './intake-limits.js';

export interface EventRouteDeps {
  events: EventStore;
  limits: IntakeLimits;
  /** The intake's API-key check (onRequest). */
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  /** The org of the API key `authenticate` accepted. */
  orgOf: (request: FastifyRequest) => string;
  /** The body as JSON, within the intake's caps. */
  readJson: (request: FastifyRequest) => Promise<unknown>;
  /** DD-API-KEY + DD-APPLICATION-KEY → the caller's org. */
  managementAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<string>;
  /** Records that `host` sent something (the hosts list). */
  sighted: (orgId: string, host: string) => void;
  now: () => number;
}

export function registerEventRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  app.post(
    '/api/v1/events',
    {
      config: { intakeLimits: deps.limits },
      onRequest: deps.authenticate,
      schema: {
        summary: 'Post an event (Datadog v1)',
        description:
          "202 `{\"status\":\"ok\",\"event\":{…}}` with the stored event and its id. Datadog's EventCreateRequest: `title` (required, cut to 100 characters), `text` (cut to 4,000), `date_happened` (18 hours past to 2 hours ahead), `priority` (normal, low), `alert_type`, `host`, `tags`, `aggregation_key`, `source_type_name`, `device_name`. 400 naming the field that is wrong; 403 `{\"errors\":[\"Forbidden\"]}` for a missing or refused API key.",
      },
    },
    async (request, reply) => {
      const orgId = deps.orgOf(request);
      const event = decodeEventCreate(await deps.readJson(request), orgId, Math.floor(deps.now() / 1000));
      const [stored] = await deps.events.insert([event]);
      if (event.host !== '') deps.sighted(orgId, event.host);
      return reply.code(202).send({ status: 'ok', event: eventJson(stored!) });
    },
  );

  app.get(
    '/api/v1/events',
    {
      schema: {
        summary: 'List events (Datadog v1)',
        description:
          '`start` and `end` (epoch seconds, required); `priority` (normal, low), `sources` (comma-separated source type names, any of), `tags` (comma-separated, all of), `page` (0-based, 1,000 per page). Newest first. 200 `{"events":[…],"status":"ok"}`.',
      },
    },
    async (request, reply) => {
      const orgId = await deps.managementAuth(request, reply);
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
      const events = await deps.events.list({
        orgId,
        start,
        end,
        ...(priority === undefined ? {} : { priority }),
        sources: listParam(query.sources),
        tags: listParam(query.tags),
        page,
      });
      return reply.send({ events: events.map(eventJson), status: 'ok' });
    },
  );

  app.get(
    '/api/v1/events/:event_id',
    { schema: { summary: 'Get an event (Datadog v1)', description: '200 `{"event":{…}}`; 404 when no event of the caller\'s organisation has that id.' } },
    async (request, reply) => {
      const orgId = await deps.managementAuth(request, reply);
      const id = integerParam((request.params as Record<string, unknown>).event_id, 'event_id');
      const event = await deps.events.get(orgId, id);
      if (event === undefined) throw rekeyError('NOT_FOUND');
      return reply.send({ event: eventJson(event) });
    },
  );
}

function integerParam(value: unknown, name: string): number {
  const number = typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw rekeyError('INVALID_QUERY', { detail: `"${name}" must be an integer` });
  return number;
}

function listParam(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
