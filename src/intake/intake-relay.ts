/**
 * Where relay mode (src/relay/relay.ts, docs/relay.md) plugs into the intake: the one hook that,
 * after the key and rate checks of intake-auth.ts and before a byte of the body is read, hands
 * the request of an organisation in relay mode to the relay (which spools the body as sent and
 * answers 202), and the route for every other intake path the Datadog Agent posts to (logs,
 * traces, events, metadata…): forwarded for relay-mode organisations, 404 otherwise —
 * exactly as before while no organisation is in relay mode.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IntakeAuth, IntakeCaller } from './intake-auth.js';
import { RekeyError, rekeyError } from '../errors.js';
import { forwardedPath } from '../relay/forwarded-headers.js';
import { countsPoints } from '../relay/forwarded-usage.js';
import type { PointsPerHost } from '../relay/json-points.js';
import { overKeyLimit } from './intake-auth.js';
import type { IntakeLimits } from './intake-limits.js';
import { agentVersionOf } from './intake-request.js';
import type { IntakeRuntime } from './intake-runtime.js';

/** What the intake needs of the relay. */
export interface IntakeRelay {
  /** Any organisation in relay mode (without one, the relay-only route stays 404 before any key check). */
  active(): boolean;
  handles(orgId: string): boolean;
  /**
   * `onBodyRead`: the body's bytes as sent, once read (for the key's usage and limits);
   * `onSpooled`: the payload as spooled, after its 202 (for its points: forwarded-usage.ts);
   * `admit`: the payload before it is spooled (a points-limited key's points: PayloadAdmission).
   */
  accept(
    request: FastifyRequest,
    reply: FastifyReply,
    orgId: string,
    onBodyRead?: (wireBytes: number) => void,
    onSpooled?: (payload: ForwardedPayload) => void,
    admit?: PayloadAdmission,
  ): Promise<FastifyReply>;
}

/**
 * Sees a payload once read, before it is spooled: 'refused' when it answered the request itself
 * (nothing spooled); else, optionally, what to call once the payload is spooled (true) or could
 * not be (false).
 */
export type PayloadAdmission = (payload: ForwardedPayload) => Promise<'refused' | ((spooled: boolean) => void) | undefined>;

/** What the intake reads of a spooled payload to count its points. */
export interface ForwardedPayload {
  path: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An intake path only relay mode serves: 404 for a standalone organisation. */
    relayOnly?: boolean;
  }
}

const NOT_FOUND = { errors: ['Not found'] };

/**
 * After a successful authentication: forwards a relay-mode organisation's request (and counts
 * the key's use), refuses a relay-only path of a standalone one; undefined to go on as usual.
 * `onRefusedPayload`: a payload refused as unreadable (4xx), for the key's refused-payload budget.
 */
export function relayHandOff(
  runtime: IntakeRuntime,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: IntakeCaller,
  onBodyRead?: (wireBytes: number) => void,
  onRefusedPayload?: () => void,
): Promise<FastifyReply> | FastifyReply | undefined {
  const relay = runtime.relay;
  if (relay?.handles(caller.orgId)) {
    const counting = runtime.forwardedCounting;
    if (counting.full(caller.key.id) && countsPoints(forwardedPath(request.url) ?? '')) {
      // Its bodies wait to be counted (counting-queue.ts): it sends faster than they count.
      runtime.metrics.refused('counting_backlog');
      const retryAfterSeconds = 1;
      return reply
        .code(429)
        .header('retry-after', String(retryAfterSeconds))
        .send({ errors: [rekeyError('INTAKE_RATE_LIMITED', { who: 'API key while its payloads wait to be counted', retryAfterSeconds }).message] });
    }
    const agentVersion = agentVersionOf(request);
    runtime.usage.record(caller.key.id, '', 0, agentVersion);
    const limits = request.routeOptions.config.intakeLimits ?? runtime.limitsV2;
    /** A points-limited key's payload, counted before it was spooled. */
    let counted: PointsPerHost | undefined;
    const admit: PayloadAdmission = async (payload) => {
      if (!countsPoints(payload.path)) return undefined;
      let perHost: PointsPerHost;
      try {
        perHost = await runtime.forwardedCounter.count(caller.key.id, payload.path, payload.headers, payload.body, limits);
      } catch (error) {
        // Uncountable, it would be forwarded free of the limit: the intake's refusal instead.
        // Not the body's fault (the counting worker failed): 503, so the agent sends it again.
        const refusal =
          error instanceof RekeyError
            ? error
            : rekeyError('RELAY_COUNTING_FAILED', { reason: error instanceof Error ? error.message : String(error), retryAfterSeconds: 1 });
        onRefusedPayload?.();
        if (refusal.status === 503) reply.header('retry-after', '1');
        reply.code(refusal.status).send({ errors: [refusal.message] });
        return 'refused';
      }
      let points = 0;
      for (const count of perHost.values()) points += count;
      const { held, over } = runtime.keyLimits.holdPoints(caller.key.id, points);
      if (over !== undefined) {
        overKeyLimit(reply, runtime, over);
        return 'refused';
      }
      counted = perHost;
      return (spooled) => (spooled ? held.settle() : held.release());
    };
    return relay.accept(
      request,
      reply,
      caller.orgId,
      onBodyRead,
      (payload) => {
        if (counted !== undefined) recordForwardedPoints(runtime, caller, counted, agentVersion);
        else if (countsPoints(payload.path)) void countForwardedPoints(runtime, caller, payload, limits, agentVersion);
      },
      // Only a key with a points limit waits for its points to be counted (forwarded-usage.ts).
      runtime.keyLimits.limitsOf(caller.key.id)?.pointsPerMinute == null ? undefined : admit,
    );
  }
  if (request.routeOptions.config.relayOnly) return reply.code(404).send(NOT_FOUND);
  return undefined;
}

/**
 * A forwarded series, distribution or sketch payload of a key without a points/min limit: its
 * points and hosts in the key's usage (minutes, hosts), counted after the 202 — as the intake
 * counts a stored one.
 */
async function countForwardedPoints(
  runtime: IntakeRuntime,
  caller: IntakeCaller,
  payload: ForwardedPayload,
  limits: IntakeLimits,
  agentVersion: string | null,
): Promise<void> {
  // Unreadable (readForwardedPoints' error): counts none, the upstream judges it (forwarded-usage.ts).
  const perHost = await runtime.forwardedCounter
    .count(caller.key.id, payload.path, payload.headers, payload.body, limits)
    .catch((): PointsPerHost => new Map());
  let points = 0;
  for (const count of perHost.values()) points += count;
  recordForwardedPoints(runtime, caller, perHost, agentVersion);
  if (points > 0) runtime.keyLimits.countPoints(caller.key.id, points);
}

/** A forwarded payload's points and hosts in the key's usage (its points/min is counted apart). */
function recordForwardedPoints(runtime: IntakeRuntime, caller: IntakeCaller, perHost: PointsPerHost, agentVersion: string | null): void {
  for (const [host, count] of perHost) runtime.usage.record(caller.key.id, host, count, agentVersion);
}

/** `POST /api/*`: every intake path without a route of its own (specific routes win over it). */
export function registerRelayOnlyRoute(app: FastifyInstance, runtime: IntakeRuntime, auth: IntakeAuth): void {
  app.post(
    '/api/*',
    {
      config: { intakeLimits: runtime.limitsV2, relayOnly: true },
      schema: { hide: true },
      onRequest: async (request, reply) => {
        if (!runtime.relay?.active()) return reply.code(404).send(NOT_FOUND);
        return auth.authenticate(request, reply);
      },
    },
    async (_request, reply) => reply.code(404).send(NOT_FOUND),
  );
}
