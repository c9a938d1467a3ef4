/**
 * The metric series routes (docs/product.md §3):
 *
 *   POST /api/v1/series   Datadog v1 JSON                   → 202 {"status":"ok"} (+ "errors")
 *   POST /api/v2/series   v2 JSON, or Agent 7 protobuf       → 202 {"errors":[…]}
 *
 * Invalid series are left out and listed in `errors`; a payload with none valid is 400. The
 * 202 is sent only once the points are committed (point-writer.ts). The hosts a payload names
 * are gathered in memory (host-sightings.ts), like key usage (usage-aggregator.ts): no
 * per-request upsert.
 */
import type { FastifyInstance } from 'fastify';
import type { StoredSeries } from '../points/point-store.js';
import { overKeyLimit, type IntakeCaller } from './intake-auth.js';
import { agentVersionOf, bodyOf, headerValue, PROTOBUF_TYPE, secondsNow } from './intake-request.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import type { IntakeRuntime } from './intake-runtime.js';
import { writeHeld, type OverLimit } from './key-limits.js';
import { INTAKE_ERROR_RESPONSES, V1_ACCEPTED_SCHEMA, V2_ACCEPTED_SCHEMA } from './intake-schemas.js';
import { parseBoundedJson } from './payload-caps.js';
import { decodeProtoSeries } from './proto-series.js';
import { decodeV1Series, decodeV2Series, pointsPerHost, type IntakeSeries } from './series-payload.js';

const V1_ACCEPTED = { status: 'ok' };
const V2_ACCEPTED = { errors: [] as string[] };

const REFUSALS =
  '403 `{"errors":["Forbidden"]}` for a missing, malformed, unknown, revoked or expired key; 413 over the byte limits or the work caps (series, points, tags, JSON values); 415 for an unknown Content-Encoding; 429 with Retry-After over a rate limit; 503 with Retry-After when the points cannot be stored. Limits and caps: docs/security.md, The intake under abuse.';

export function registerSeriesRoutes(app: FastifyInstance, { runtime, auth }: IntakeRouteDeps): void {
  const { caps, window } = runtime;

  app.post(
    '/api/v1/series',
    {
      config: { intakeLimits: runtime.limitsV1 },
      onRequest: auth.authenticate,
      schema: {
        summary: 'Submit metrics (Datadog v1 JSON)',
        response: { 202: V1_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES },
        description: `202 \`{"status":"ok"}\` when every series is stored; when some series are invalid, the valid ones are stored and the answer is 202 \`{"status":"ok","errors":[…]}\` naming each refused series; 400 when none is valid or the payload is malformed. ${REFUSALS}`,
      },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const errors: string[] = [];
      const series = decodeV1Series(await parseBoundedJson(bodyOf(request), caps, { shapeOnly: true }), secondsNow(runtime.now), window, { caps, errors });
      const over = await storeSeries(runtime, caller, series, agentVersionOf(request));
      if (over !== undefined) return overKeyLimit(reply, runtime, over);
      // Datadog's v1 answer is {"status":"ok"}; the series left out are listed beside it.
      return reply.code(202).send(errors.length === 0 ? V1_ACCEPTED : { ...V1_ACCEPTED, errors });
    },
  );

  app.post(
    '/api/v2/series',
    {
      config: { intakeLimits: runtime.limitsV2 },
      onRequest: auth.authenticate,
      schema: {
        summary: 'Submit metrics (Datadog v2 JSON, or the Agent 7 protobuf MetricPayload)',
        response: { 202: V2_ACCEPTED_SCHEMA, ...INTAKE_ERROR_RESPONSES },
        description: `202 \`{"errors":[]}\` when every series is stored; when some series are invalid, the valid ones are stored and \`errors\` names each refused series (Datadog's IntakePayloadAccepted); 400 when none is valid or the payload is malformed. ${REFUSALS}`,
      },
    },
    async (request, reply) => {
      const caller = auth.callerOf(request);
      const body = bodyOf(request);
      const contentType = headerValue(request.headers['content-type']) ?? '';
      const errors: string[] = [];
      const seconds = secondsNow(runtime.now);
      const series = PROTOBUF_TYPE.test(contentType)
        ? decodeProtoSeries(body, seconds, window, { caps, errors })
        : decodeV2Series(await parseBoundedJson(body, caps, { shapeOnly: true }), seconds, window, { caps, errors });
      const over = await storeSeries(runtime, caller, series, agentVersionOf(request));
      if (over !== undefined) return overKeyLimit(reply, runtime, over);
      // Datadog's v2 IntakePayloadAccepted: "errors" lists the non-fatal problems.
      return reply.code(202).send(errors.length === 0 ? V2_ACCEPTED : { errors });
    },
  );
}

/** Records the hosts and the key's usage in memory, then writes the points (resolves once committed)… */
/** …or, stored nothing, says the key's points/min is already reached by its other payloads (key-limits.ts). */
async function storeSeries(runtime: IntakeRuntime, caller: IntakeCaller, series: IntakeSeries[], agentVersion: string | null): Promise<OverLimit | undefined> {
  const nowMs = runtime.now();
  const stored: StoredSeries[] = series.map((s) => ({
    orgId: caller.orgId,
    metric: s.metric,
    host: s.host,
    tags: s.tags,
    type: s.type,
    interval: s.interval,
    points: s.points,
  }));
  const perHost = pointsPerHost(series);
  let points = 0;
  for (const count of perHost.values()) points += count;
  // Held against the key's points/min before it is stored, so payloads racing on this node
  // cannot all pass; counted once stored: a payload refused with 503 is sent again.
  const { held, over } = runtime.keyLimits.holdPoints(caller.key.id, points);
  if (over !== undefined) return over;
  for (const [host, count] of perHost) {
    if (host !== '') runtime.sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion, metadata: null });
    runtime.usage.record(caller.key.id, host, count, agentVersion);
  }
  await writeHeld(held, () => runtime.writer.write({ series: stored }));
  await runtime.units.record(caller.orgId, series);
  runtime.metrics.accepted(points);
  return undefined;
}
