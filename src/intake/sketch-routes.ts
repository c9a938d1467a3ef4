/**
 * `POST /api/beta/sketches`: distributions as the Agent's protobuf SketchPayload
 * (sketch-payload.ts) → 202 {"errors":[]} (the sketches left out, if any, named in `errors`;
 * 400 when none is valid). Stored per series and 10 s bucket (src/points/sketch-store.ts) and
 * answered by `GET /api/v1/query` with `p50…p99`, `avg`, `sum`, `min`, `max`, `count`.
 */
import type { FastifyInstance } from 'fastify';
import { bodyOf, secondsNow } from './intake-request.js';
import { INTAKE_ERROR_RESPONSES, V2_ACCEPTED_SCHEMA } from './intake-schemas.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { decodeSketchPayload } from './sketch-payload.js';
import { writeSketchesCounted } from './sketch-write.js';

export function registerSketchRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post(
    '/api/beta/sketches',
    {
      config: { intakeLimits: runtime.limitsV2 },
      onRequest: auth.authenticate,
      schema: {
        summary: 'Submit distributions (the Agent protobuf SketchPayload)',
        response: { 202: V2_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES },
        description:
          '202 `{"errors":[]}` when every sketch is stored; invalid sketches are left out and named in `errors`; 400 when none is valid or the payload is not a SketchPayload. 403 `{"errors":["Forbidden"]}` for a refused key; 413 over the byte limits or caps; 429 with Retry-After over a rate limit.',
      },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const errors: string[] = [];
      const sketches = decodeSketchPayload(bodyOf(request), secondsNow(runtime.now), runtime.window, { caps: runtime.caps, errors });
      const refused = await writeSketchesCounted(runtime, request, reply, caller, sketches, () => runtime.sketches.write(caller.orgId, sketches));
      if (refused !== undefined) return refused;
      return reply.code(202).send({ errors });
    },
  );
}
