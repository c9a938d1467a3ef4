/**
 * `POST /intake/`: the agent's host metadata (docs/product.md §3), the latest kept per host,
 * and the Agent's events payload (`{"events": {source: [event…]}, "internalHostname": …}`,
 * what the Datadog Agent and rekey-agent send for DogStatsD events: event-payload.ts), stored
 * as events → 202 {"status":"ok"}. A payload that is only events leaves the host's metadata
 * as it was.
 */
import type { FastifyInstance } from 'fastify';
import { decodeHostMetadata } from './host-metadata-payload.js';
import { decodeIntakeEvents, hasIntakeEvents, isEventsOnly } from './event-payload.js';
import { agentVersionOf, bodyOf, secondsNow } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { INTAKE_ERROR_RESPONSES, V1_ACCEPTED_SCHEMA } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';

export function registerHostMetadataRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post(
    '/intake/',
    {
      config: { intakeLimits: runtime.limitsV1 },
      onRequest: auth.authenticate,
      schema: { summary: 'Submit host metadata (the latest kept per host)', response: { 202: V1_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES } },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const payload = await parseBoundedJson(bodyOf(request), runtime.caps);
      const nowMs = runtime.now();
      if (hasIntakeEvents(payload)) {
        const events = decodeIntakeEvents(payload, caller.orgId, secondsNow(runtime.now));
        await runtime.events.insert(events);
        const hosts = [...new Set(events.map((e) => e.host).filter((host) => host !== ''))];
        for (const host of hosts)
          runtime.sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: agentVersionOf(request), metadata: null });
        if (isEventsOnly(payload)) {
          for (const host of hosts.length > 0 ? hosts : ['']) runtime.usage.record(caller.key.id, host, 0, agentVersionOf(request));
          return reply.code(202).send({ status: 'ok' });
        }
      }
      const metadata = decodeHostMetadata(payload);
      await runtime.writer.write({
        hosts: [
          { orgId: caller.orgId, host: metadata.host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: metadata.agentVersion, metadata: metadata.document },
        ],
      });
      runtime.usage.record(caller.key.id, metadata.host, 0, metadata.agentVersion);
      return reply.code(202).send({ status: 'ok' });
    },
  );
}
