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
import { countsPoints, pointsOfForwarded } from '../relay/forwarded-usage.js';
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
   * `onSpooled`: the payload as spooled, after its 202 (for its points: forwarded-usage.ts).
   */
  accept(
    request: FastifyRequest,
    reply: FastifyReply,
    orgId: string,
    onBodyRead?: (wireBytes: number) => void,
    onSpooled?: (payload: ForwardedPayload) => void,
  ): Promise<FastifyReply>;
}

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
 */
export function relayHandOff(
  runtime: IntakeRuntime,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: IntakeCaller,
  onBodyRead?: (wireBytes: number) => void,
): Promise<FastifyReply> | FastifyReply | undefined {
  const relay = runtime.relay;
  if (relay?.handles(caller.orgId)) {
    const agentVersion = agentVersionOf(request);
    runtime.usage.record(caller.key.id, '', 0, agentVersion);
    const limits = request.routeOptions.config.intakeLimits ?? runtime.limitsV2;
    return relay.accept(request, reply, caller.orgId, onBodyRead, (payload) => {
      if (countsPoints(payload.path)) void countForwardedPoints(runtime, caller, payload, limits, agentVersion);
    });
  }
  if (request.routeOptions.config.relayOnly) return reply.code(404).send(NOT_FOUND);
  return undefined;
}

/**
 * A forwarded series or distribution payload's points and hosts, in the key's usage (minutes,
 * hosts) and against its points/min limit — as the intake counts a stored one, after the 202.
 */
async function countForwardedPoints(
  runtime: IntakeRuntime,
  caller: IntakeCaller,
  payload: ForwardedPayload,
  limits: IntakeLimits,
  agentVersion: string | null,
): Promise<void> {
  const perHost = await pointsOfForwarded(payload.path, payload.headers, payload.body, limits, runtime.caps);
  let points = 0;
  for (const [host, count] of perHost) {
    points += count;
    runtime.usage.record(caller.key.id, host, count, agentVersion);
  }
  if (points > 0) runtime.keyLimits.countPoints(caller.key.id, points);
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
