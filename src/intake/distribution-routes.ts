/**
 * `POST /api/v1/distribution_points`: Datadog's JSON distributions (distribution-payload.ts)
 * → 202 {"status":"ok"} (+ "errors" naming the series left out; 400 when none is valid),
 * stored as the DDSketches DogStatsD distributions become (src/points/sketch-store.ts) and
 * answered by `GET /api/v1/query` with `p50…p99`, `avg`, `sum`, `min`, `max`, `count`.
 *
 * Datadog counts every value it is sent, so a payload's sketch is merged into the one already
 * stored for its series and bucket (the Agent's `/api/beta/sketches` instead replaces it: the
 * Agent re-sends a whole bucket). The read, merge and write are one transaction, locked per
 * metric on PostgreSQL (SketchStore.mergeWrite), so payloads of the same series and bucket
 * arriving at once — on one node or several — all count.
 *
 * Authentication, rate limits, gzip/deflate bodies and relay mode are the intake's
 * (`onRequest: auth.authenticate`, intake-auth.ts / intake-relay.ts): an organisation in relay
 * mode has the request forwarded upstream as sent, like /api/v1/series.
 */
import type { FastifyInstance } from 'fastify';
import { fromDogsketch, mergeDogsketch, toDogsketch } from '../points/agent-sketch.js';
import type { Dogsketch } from '../points/agent-sketch.js';
import { decodeDistributionPoints } from './distribution-payload.js';
import { bodyOf, secondsNow } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { INTAKE_ERROR_RESPONSES, V1_ACCEPTED_SCHEMA } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';
import { writeSketchesCounted } from './sketch-write.js';

export function registerDistributionRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  app.post(
    '/api/v1/distribution_points',
    {
      config: { intakeLimits: runtime.limitsV1 },
      onRequest: auth.authenticate,
      schema: {
        summary: 'Submit distribution points (Datadog v1 JSON)',
        response: { 202: V1_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES },
        description:
          '`{"series":[{"metric","points":[[ts,[values…]]],"host","tags","type":"distribution"}]}`: the values become one DDSketch per series and 10 s bucket, merged into what is stored, queried as `p95:metric{…}`, `avg:`, `count:`… on `GET /api/v1/query`. 202 `{"status":"ok"}` when every series is stored; invalid series are left out and named in `errors`; 400 when none is valid or the payload is malformed; points outside 1 h past / 10 min future are refused per series. 403 `{"errors":["Forbidden"]}` for a refused key; 413 over the byte limits or caps; 415 for an unknown Content-Encoding; 429 with Retry-After over a rate limit.',
      },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const errors: string[] = [];
      const payload = await parseBoundedJson(bodyOf(request), runtime.caps);
      const sketches = decodeDistributionPoints(payload, secondsNow(runtime.now), runtime.window, { caps: runtime.caps, errors });
      const refused = await writeSketchesCounted(runtime, request, reply, caller, sketches, () =>
        runtime.sketches.mergeWrite(caller.orgId, sketches, mergedSketch),
      );
      if (refused !== undefined) return refused;
      return reply.code(202).send(errors.length === 0 ? { status: 'ok' } : { status: 'ok', errors });
    },
  );
}

/** `stored` with `fresh`'s values added, at `fresh`'s bucket. */
function mergedSketch(stored: Dogsketch, fresh: Dogsketch): Dogsketch {
  const merged = fromDogsketch(stored);
  mergeDogsketch(merged, fresh);
  return toDogsketch(merged, fresh.ts);
}
