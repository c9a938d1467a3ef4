/**
 * rekey extensions (not Datadog endpoints; issue 19), per API key:
 *
 *   GET /api/v2/api_keys/{id}/usage?from&to   its usage per minute: requests, bytes, points, hosts
 *   GET /api/v2/api_keys/{id}/limits          its optional limits
 *   PUT /api/v2/api_keys/{id}/limits          sets them (admin: api_keys:write)
 *
 * Management auth and the one access policy (src/access/policy.ts): reading takes
 * `api_keys:read` (every role), setting limits `api_keys:write` (admin only). The usage read
 * includes this node's minutes not yet written (src/intake/usage-minutes.ts), so the current
 * minute shows at once; other nodes' current minute shows once it is over.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { MINUTE_MS, minuteOf } from '../../intake/usage-minutes.js';
import type { ApiKeyLimits, KeyUsageMinute, Store } from '../../store/store.js';
import { authOf, requireAction } from '../management-auth.js';
import { maskKeyLike } from '../logger.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses, isObjectId } from './json-api-schemas.js';
import { epochSecondsT } from './query-routes.js';
import { idParamsT } from './typed-schemas.js';

/** The longest range one usage read may cover: 7 days of minutes (10,080 rows at most). */
const MAX_RANGE_MS = 7 * 86_400_000;
const DEFAULT_RANGE_MS = 60 * MINUTE_MS;
const tags = ['API keys'];

const usageQuery = Type.Object({
  from: Type.Optional(epochSecondsT('Minutes starting at or after this time, seconds since the epoch (default: an hour before `to`)')),
  to: Type.Optional(epochSecondsT('Minutes starting at or before this time, seconds since the epoch (default: now)')),
});

const minuteSchema = Type.Object({
  minute: Type.Integer({ description: "The minute's start, seconds since the epoch" }),
  requests: Type.Integer({ description: 'Intake requests with this key (relay mode included)' }),
  bytes: Type.Integer({ description: 'Their bodies, as sent (still compressed)' }),
  points: Type.Integer({
    description: 'Points of series payloads and values of distribution payloads (in relay mode: as sent, read from the forwarded payload)',
  }),
  hosts: Type.Integer({ description: 'Distinct hosts the payloads named (with several nodes: the largest count of one node)' }),
});

const usageResponse = Type.Object(
  {
    key_id: Type.String(),
    from: Type.Integer({ description: 'Seconds since the epoch (a minute start)' }),
    to: Type.Integer({ description: 'Seconds since the epoch (a minute start)' }),
    minutes: Type.Array(minuteSchema, { description: 'Oldest first; a minute without use is left out' }),
  },
  { description: "The key's usage per minute" },
);

const limitT = (description: string) =>
  Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], { description: `${description}; null: not limited` });
const limitsSchema = Type.Object({
  requests_per_second: limitT('Intake requests per second'),
  points_per_minute: limitT('Points of series payloads and values of distribution and sketch payloads per minute'),
  bytes_per_day: limitT('Body bytes as sent per UTC day'),
});
const limitsResponse = Type.Object({ key_id: Type.String(), limits: limitsSchema }, { description: "The key's limits" });
/**
 * A limit left out is not limited. No `null` in the body: Fastify's Ajv coerces types, and a
 * union with null would turn a 0 into null (no limit) instead of refusing it.
 */
const bodyLimitT = (description: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: `${description}; left out: not limited` }));
const limitsBody = Type.Object(
  {
    limits: Type.Object(
      {
        requests_per_second: bodyLimitT('Intake requests per second'),
        points_per_minute: bodyLimitT('Points of series payloads and values of distribution and sketch payloads per minute'),
        bytes_per_day: bodyLimitT('Body bytes as sent per UTC day'),
      },
      // Never, not false: Fastify's Ajv silently drops a property `false` forbids, so a misspelt
      // limit would have cleared every limit with a 200; a schema no value passes refuses it (400).
      { additionalProperties: Type.Never() },
    ),
  },
  { additionalProperties: Type.Never() },
);

/**
 * A limit must be a JSON number: Fastify's Ajv coerces types (for every route), so without this
 * `"10"` was taken as 10 and `true` as 1. Runs on the parsed body before the schema coerces it;
 * the rest (whole, at least 1, known names) is the schema's.
 */
async function refuseLimitsNotNumbers(request: FastifyRequest): Promise<void> {
  const body: unknown = request.body;
  const limits = typeof body === 'object' && body !== null && 'limits' in body ? body.limits : undefined;
  if (typeof limits !== 'object' || limits === null) return; // the schema refuses it
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number')
      throw rekeyError('BAD_REQUEST', {
        detail: `limits.${maskKeyLike(name)} must be a number (got ${value === null ? 'null' : typeof value}); leave a limit out to not limit`,
      });
  }
}

export async function apiKeyUsageRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;

  app.get(
    '/api/v2/api_keys/:id/usage',
    {
      preHandler: [ctx.auth.management, requireAction('api_keys:read', 'reading the usage of an API key')],
      schema: {
        tags,
        summary: "extension: an API key's usage per minute (requests, bytes, points, hosts)",
        description: 'A rekey extension (Datadog has no per-key usage). Minutes are kept as long as points (7 days by default). At most 7 days per request.',
        params: idParamsT,
        querystring: usageQuery,
        response: { 200: usageResponse, ...errorResponses([400, 403, 404, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const id = existingId(request.params.id);
      const to = minuteOf(request.query.to === undefined ? intake.now() : request.query.to * 1000);
      const from = minuteOf(request.query.from === undefined ? Math.max(0, to - DEFAULT_RANGE_MS) : request.query.from * 1000);
      if (from > to) throw rekeyError('BAD_REQUEST', { detail: 'from must not be after to' });
      if (to - from > MAX_RANGE_MS) throw rekeyError('BAD_REQUEST', { detail: 'from and to may be at most 7 days apart' });
      const minutes = await keyUsageMinutes(store, intake, orgId, id, from, to);
      return {
        key_id: id,
        from: from / 1000,
        to: to / 1000,
        minutes: minutes.map((m) => ({ minute: m.minute.getTime() / 1000, requests: m.requests, bytes: m.bytes, points: m.points, hosts: m.hosts })),
      };
    },
  );

  app.get(
    '/api/v2/api_keys/:id/limits',
    {
      preHandler: [ctx.auth.management, requireAction('api_keys:read', 'reading the limits of an API key')],
      schema: {
        tags,
        summary: "extension: an API key's optional limits",
        params: idParamsT,
        response: { 200: limitsResponse, ...errorResponses([403, 404, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const id = existingId(request.params.id);
      return { key_id: id, limits: toWire(await store.getApiKeyLimits(orgId, id)) };
    },
  );

  app.put(
    '/api/v2/api_keys/:id/limits',
    {
      preHandler: [ctx.auth.management, requireAction('api_keys:write', 'setting the limits of an API key')],
      preValidation: refuseLimitsNotNumbers,
      schema: {
        tags,
        summary: "extension: set an API key's optional limits (admin)",
        description:
          'Beyond a limit the intake answers 429 API_KEY_QUOTA_EXCEEDED with Retry-After (docs/errors.md); other keys are unaffected. Applies at once on this node and within 2 s on the others; stored, so it holds across restarts. The body names every limit the key should have, each a JSON number (a string such as "10" is 400): one left out is not limited, `{"limits":{}}` removes them all.',
        params: idParamsT,
        body: limitsBody,
        response: { 200: limitsResponse, ...errorResponses([400, 403, 404, 429]) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const id = existingId(request.params.id);
      const { limits } = request.body;
      const set = await store.setApiKeyLimits(
        auth.orgId,
        id,
        { requestsPerSecond: limits.requests_per_second ?? null, pointsPerMinute: limits.points_per_minute ?? null, bytesPerDay: limits.bytes_per_day ?? null },
        auth.actor,
      );
      await intake.keyLimits.refresh();
      return { key_id: id, limits: toWire(set) };
    },
  );
}

/**
 * The key's minutes in [from, to] (epoch ms, minute starts): the stored ones plus this node's
 * not yet written (summed; hosts: the larger). API_KEY_NOT_FOUND outside `orgId`. Also the
 * key page's chart reads through here.
 */
export async function keyUsageMinutes(
  store: Store,
  intake: Pick<IntakeRuntime, 'usageMinutes'>,
  orgId: string,
  keyId: string,
  from: number,
  to: number,
): Promise<KeyUsageMinute[]> {
  const stored = await store.listKeyUsageMinutes(orgId, keyId, { from: new Date(from), to: new Date(to) });
  const byMinute = new Map(stored.map((m) => [m.minute.getTime(), { ...m }]));
  for (const m of intake.usageMinutes.unwritten(keyId, from, to)) {
    const seen = byMinute.get(m.minute.getTime());
    if (seen === undefined) byMinute.set(m.minute.getTime(), m);
    else {
      seen.requests += m.requests;
      seen.bytes += m.bytes;
      seen.points += m.points;
      seen.hosts = Math.max(seen.hosts, m.hosts);
    }
  }
  return [...byMinute.values()].sort((a, b) => a.minute.getTime() - b.minute.getTime());
}

/** An id that cannot exist is 404 before any query. */
function existingId(id: string): string {
  if (!isObjectId(id)) throw rekeyError('API_KEY_NOT_FOUND');
  return id;
}

function toWire(limits: ApiKeyLimits) {
  return { requests_per_second: limits.requestsPerSecond, points_per_minute: limits.pointsPerMinute, bytes_per_day: limits.bytesPerDay };
}
