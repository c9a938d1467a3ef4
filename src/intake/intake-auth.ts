/**
 * Who is sending to the intake, decided in `onRequest` before a byte of the body is read,
 * cheapest refusal first: the client address's rate limit (429), then the API key, verified
 * from memory (403 {"errors":["Forbidden"]}; an unknown key past its address's lookup budget
 * 429), then the key's rate limit and its refused-payload budget (429, both with Retry-After),
 * then the key's own optional limits (key-limits.ts: 429 API_KEY_QUOTA_EXCEEDED); an admitted
 * request is counted in the key's usage minute (usage-minutes.ts), relay mode included.
 * docs/security.md, "The intake under abuse".
 *
 * @example
 *   const auth = createIntakeAuth(runtime);
 *   app.post('/api/v1/series', { onRequest: auth.authenticate }, (request) => auth.callerOf(request).orgId);
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rekeyError } from '../errors.js';
import { addressKey } from '../server/client-address.js';
import { queryParameter } from '../server/query-parameter.js';
import type { ApiKey } from '../store/store.js';
import type { LookupBudget } from './api-key-verifier.js';
import type { OverLimit } from './key-limits.js';
import { relayHandOff } from './intake-relay.js';
import type { IntakeRuntime } from './intake-runtime.js';
import { RateLimiter } from './rate-limiter.js';

/** The sender of an intake request: its organisation, and the key it used. */
export interface IntakeCaller {
  orgId: string;
  key: ApiKey;
}

export interface IntakeAuth {
  /** onRequest hook of every intake route: answers 403/429 itself, or records the caller. */
  authenticate(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
  /** The caller `authenticate` recorded; throws if a route forgot the hook (a bug). */
  callerOf(request: FastifyRequest): IntakeCaller;
  /** Counts a refused payload (4xx) against its key's budget, if the request was authenticated. */
  countRefusedPayload(request: FastifyRequest): void;
  /**
   * Once its body is read: counts the bytes of a body whose length was not declared (chunked)
   * in its key's usage and bytes/day, which counted it as 0 before the body was read.
   */
  countBodyBytes(request: FastifyRequest, wireBytes: number | undefined): void;
}

export function createIntakeAuth(runtime: IntakeRuntime): IntakeAuth {
  const { now, rateLimits, metrics, verifier, keyLimits, usageMinutes } = runtime;
  const perKey = new RateLimiter(rateLimits.perKey, { now });
  const perAddress = new RateLimiter(rateLimits.perAddress, { now });
  const unknownKeysPerAddress = new RateLimiter(rateLimits.unknownKeysPerAddress, { now });
  const refusedPayloadsPerKey = new RateLimiter(rateLimits.refusedPayloadsPerKey, { now });
  const callers = new WeakMap<FastifyRequest, IntakeCaller>();
  /** Admitted requests without a declared body length: their bytes are counted once read. */
  const undeclared = new WeakSet<FastifyRequest>();

  /** `wireBytes` undefined: the body was not read to its end (the request ended first). */
  const countBodyBytes = (request: FastifyRequest, wireBytes: number | undefined) => {
    const caller = callers.get(request);
    if (caller === undefined || !undeclared.delete(request)) return;
    keyLimits.countBytes(caller.key.id, wireBytes);
    if (wireBytes !== undefined) usageMinutes.count(caller.key.id, { bytes: wireBytes });
  };

  /** 429 + Retry-After; `reason` labels rekey_intake_refused_total. */
  const tooMany = (reply: FastifyReply, reason: string, code: 'INTAKE_RATE_LIMITED' | 'RATE_LIMITED', who: string, retryAfterSeconds: number) => {
    metrics.refused(reason);
    const error = code === 'RATE_LIMITED' ? rekeyError(code, { retryAfterSeconds }) : rekeyError(code, { who, retryAfterSeconds });
    return reply
      .code(429)
      .header('retry-after', String(retryAfterSeconds))
      .send({ errors: [error.message] });
  };

  return {
    async authenticate(request, reply) {
      const address = addressKey(request.ip); // an IPv6 /64 is one client (client-address.ts)
      const addressWait = perAddress.take(address);
      if (addressWait > 0) return tooMany(reply, 'rate_limited_address', 'INTAKE_RATE_LIMITED', 'address', addressWait);
      const budget: LookupBudget = {
        check: () => unknownKeysPerAddress.check(address),
        spend: () => void unknownKeysPerAddress.take(address),
      };
      const verdict = await verifier.verify(rawApiKey(request), budget);
      if (!verdict.ok && verdict.reason === 'throttled') {
        // debug, not info: refusals are counted on /metrics (rekey_intake_refused_total); a line
        // each at info would let anyone with a wrong key write the server's log at request rate.
        request.log.debug({ intakeAuthFailure: verdict.reason }, 'intake: too many unknown keys from this address');
        return tooMany(reply, 'unknown_keys_throttled', 'RATE_LIMITED', 'address', verdict.retryAfterSeconds);
      }
      if (!verdict.ok) {
        metrics.refused(verdict.reason);
        request.log.debug({ intakeAuthFailure: verdict.reason }, 'intake: key refused');
        return reply.code(403).send({ errors: ['Forbidden'] });
      }
      const keyWait = perKey.take(verdict.key.id);
      if (keyWait > 0) return tooMany(reply, 'rate_limited_key', 'INTAKE_RATE_LIMITED', 'API key', keyWait);
      const refusedWait = refusedPayloadsPerKey.check(verdict.key.id);
      if (refusedWait > 0) return tooMany(reply, 'refused_payloads', 'INTAKE_RATE_LIMITED', 'API key after too many refused payloads', refusedWait);
      // The key's own limits (key-limits.ts), then its use this minute (usage-minutes.ts): both in memory.
      const bytes = declaredLength(request);
      const over = keyLimits.admit(verdict.key.id, bytes);
      if (over !== undefined) return overKeyLimit(reply, runtime, over);
      usageMinutes.count(verdict.key.id, { requests: 1, bytes });
      const caller = { orgId: verdict.key.orgId, key: verdict.key };
      callers.set(request, caller);
      if (bytes === 0) {
        undeclared.add(request);
        // A body never read to its end still ends its read (key-limits.ts counts those in flight).
        reply.raw.once('close', () => countBodyBytes(request, undefined));
      }
      // relay mode: forwarded, not stored
      return relayHandOff(
        runtime,
        request,
        reply,
        caller,
        (wireBytes) => countBodyBytes(request, wireBytes),
        () => void refusedPayloadsPerKey.take(caller.key.id),
      );
    },

    callerOf(request) {
      const caller = callers.get(request);
      if (caller === undefined) throw new Error('intake route without authentication (a bug)');
      return caller;
    },

    countRefusedPayload(request) {
      const caller = callers.get(request);
      if (caller !== undefined) refusedPayloadsPerKey.take(caller.key.id);
    },

    countBodyBytes,
  };
}

/**
 * 429 API_KEY_QUOTA_EXCEEDED with Retry-After: a key over one of its own limits (key-limits.ts),
 * found before its body is read or once it is decoded (its points held).
 */
export function overKeyLimit(reply: FastifyReply, runtime: Pick<IntakeRuntime, 'metrics'>, over: OverLimit): FastifyReply {
  runtime.metrics.refused('key_quota');
  return reply
    .code(429)
    .header('retry-after', String(over.retryAfterSeconds))
    .send({ errors: [rekeyError('API_KEY_QUOTA_EXCEEDED', over).message] });
}

/** The body's declared length (bytes as sent, still compressed); 0 without a valid Content-Length. */
function declaredLength(request: FastifyRequest): number {
  const declared = Number(request.headers['content-length']);
  return Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
}

/** `DD-API-KEY`, else the `api_key` query parameter (Datadog accepts both); repeated: malformed. */
function rawApiKey(request: FastifyRequest): string | undefined {
  const header = request.headers['dd-api-key'];
  if (Array.isArray(header)) return '\u0000';
  if (header !== undefined) return header;
  const fromQuery = queryParameter(request.query, 'api_key');
  return typeof fromQuery === 'string' ? fromQuery : Array.isArray(fromQuery) ? '\u0000' : undefined;
}
