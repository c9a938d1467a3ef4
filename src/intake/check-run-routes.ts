/**
 * `POST /api/v1/check_run`: an array of service checks (docs/product.md §3) → 202 {"status":"ok"}.
 * The hosts they name are recorded as seen, and the key's usage per host.
 */
import type { FastifyInstance } from 'fastify';
import { decodeCheckRuns } from './check-run-payload.js';
import { bodyOf, secondsNow } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { INTAKE_ERROR_RESPONSES, V1_ACCEPTED_SCHEMA } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';

export function registerCheckRunRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post(
    '/api/v1/check_run',
    {
      config: { intakeLimits: runtime.limitsV1 },
      onRequest: auth.authenticate,
      schema: { summary: 'Submit service checks', response: { 202: V1_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES } },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const runs = decodeCheckRuns(await parseBoundedJson(bodyOf(request), runtime.caps), secondsNow(runtime.now), runtime.window);
      const nowMs = runtime.now();
      const hosts = [...new Set(runs.map((r) => r.host).filter((h) => h !== ''))];
      for (const host of hosts) runtime.sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: null, metadata: null });
      await runtime.writer.write({
        checkRuns: runs.map((r) => ({
          orgId: caller.orgId,
          check: r.check,
          host: r.host,
          tags: r.tags,
          status: r.status,
          message: r.message,
          ts: r.timestamp,
        })),
      });
      for (const host of hosts.length > 0 ? hosts : ['']) runtime.usage.record(caller.key.id, host, 0);
      return reply.code(202).send({ status: 'ok' });
    },
  );
}
