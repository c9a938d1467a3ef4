/**
 * `POST /api/v1/events`: one event, with an API key only, as on Datadog (event-payload.ts gives
 * the shapes) → 202 {"status":"ok","event":{…}} with the stored event and its id. Events the
 * Agent sends inside `/intake/` payloads are stored by host-metadata-routes.ts; both are read
 * back by `GET /api/v1/events` (src/server/routes/event-routes.ts).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { decodeEventCreate, EVENT_SCHEMA, eventJson } from './event-payload.js';
import { bodyOf, secondsNow } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { INTAKE_ERROR_RESPONSES } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';

export function registerEventRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post(
    '/api/v1/events',
    {
      config: { intakeLimits: runtime.limitsV1 },
      onRequest: auth.authenticate,
      schema: {
        summary: 'Post an event (Datadog v1)',
        response: {
          202: Type.Object({ status: Type.String(), event: EVENT_SCHEMA }, { description: "Stored: Datadog's EventCreateResponse" }),
          ...INTAKE_ERROR_RESPONSES,
        },
        description:
          '202 `{"status":"ok","event":{…}}` with the stored event and its id. Datadog\'s EventCreateRequest: `title` (required, cut to 100 characters), `text` (cut to 4,000), `date_happened` (18 hours past to 2 hours ahead), `priority` (normal, low), `alert_type`, `host`, `tags`, `aggregation_key`, `source_type_name`, `device_name`. 400 naming the field that is wrong; 403 `{"errors":["Forbidden"]}` for a missing or refused API key.',
      },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const event = decodeEventCreate(await parseBoundedJson(bodyOf(request), runtime.caps), caller.orgId, secondsNow(runtime.now));
      const [stored] = await runtime.events.insert([event]);
      const nowMs = runtime.now();
      if (event.host !== '')
        runtime.sightings.record({ orgId: caller.orgId, host: event.host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: null, metadata: null });
      runtime.usage.record(caller.key.id, event.host, 0);
      return reply.code(202).send({ status: 'ok', event: eventJson(stored!) });
    },
  );
}
