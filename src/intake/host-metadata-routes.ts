/**
 * `POST /intake/`: the agent's host metadata (docs/product.md §3), the latest kept per host
 * → 202 {"status":"ok"}.
 */
import type { FastifyInstance } from 'fastify';
import { decodeHostMetadata } from './host-metadata-payload.js';
import { bodyOf } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { INTAKE_ERROR_RESPONSES, V1_ACCEPTED_SCHEMA } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';

export function registerHostMetadataRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post('/intake/', { config: { intakeLimits: runtime.limitsV1 }, onRequest: auth.authenticate, schema: { summary: 'Submit host metadata (the latest kept per host)', response: { 202: V1_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES } } }, async (request, reply) => {
    const caller = auth.callerOf(request);
    const metadata = decodeHostMetadata(await parseBoundedJson(bodyOf(request), runtime.caps));
    const nowMs = runtime.now();
    await runtime.writer.write({
      hosts: [{ orgId: caller.orgId, host: metadata.host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: metadata.agentVersion, metadata: metadata.document }],
    });
    runtime.usage.record(caller.key.id, metadata.host, 0, metadata.agentVersion);
    return reply.code(202).send({ status: 'ok' });
  });
}
