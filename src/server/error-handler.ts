/**
 * The server's one error handler: every failure leaves as Datadog's `{"errors":[…]}`.
 *
 * - `RekeyError` → its catalogue status and message (messages never contain a key).
 * - The database cannot be reached (DATABASE_UNAVAILABLE, or a connection error that reached
 *   here unconverted) → 503 with `Retry-After`, never 500: the request can simply be retried.
 * - Fastify schema validation → 400 with AJV's message, which names the field, not its value;
 *   a field named with something key-like (a key pasted as a field's name) is masked.
 * - Other client errors from Fastify (bad JSON, wrong content type, body too large) → their
 *   status with a fixed message: their own messages may quote the request body (Node's
 *   JSON.parse error quotes the start of the input), and a body may hold a key.
 * - Anything else is a bug: logged with its stack, answered 500 "Internal error".
 *
 * Every 503 of the whole app (the intake's and the web UI's handlers too) leaves with a
 * `Retry-After` header; see `installRetryAfter`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RekeyError } from '../errors.js';
import { DATABASE_RETRY_AFTER_SECONDS, asDatabaseUnavailable } from '../store/postgres-adapter.js';
import { maskKeyLike } from './logger.js';

const FIXED_CLIENT_MESSAGES: Record<number, string> = {
  400: 'The request body is not valid JSON',
  404: 'Not found',
  405: 'Method not allowed',
  406: 'Not acceptable',
  408: 'Request timeout',
  413: 'The request body is too large',
  414: 'The URL is too long',
  415: 'Unsupported Content-Type; send application/json',
  429: 'Too many requests',
  431: 'The request headers are too large',
};

export function installErrorHandlers(app: FastifyInstance): void {
  installRetryAfter(app);
  app.setErrorHandler((error: FastifyError | RekeyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const unavailable = asDatabaseUnavailable(error);
    if (unavailable !== undefined) {
      // Expected during a database restart: one line, no stack, and the caller retries.
      request.log.warn({ code: unavailable.code, reason: unavailable.message }, 'request failed: database unavailable');
      return reply.code(503).send({ errors: [unavailable.message] });
    }
    if (error instanceof RekeyError) {
      if (error.status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(error.status).send({ errors: [error.message] });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      return reply.code(400).send({ errors: [maskKeyLike(validationMessage(fastifyError))] });
    }
    const status = fastifyError.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ errors: [FIXED_CLIENT_MESSAGES[status] ?? 'Bad request'] });
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send({ errors: ['Internal error'] });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ errors: ['Not found'] }));
}

/**
 * Ajv's message, except where it would puzzle: a schema that forbids unknown fields does it
 * with `additionalProperties: Type.Never()` (Fastify's Ajv silently drops what `false` forbids),
 * and Ajv words that as "body/limits/points_per_minut must NOT be valid". Said plainly instead.
 */
function validationMessage(error: FastifyError): string {
  const entries = error.validation ?? [];
  if (!entries.some((entry) => entry.keyword === 'not' && entry.schemaPath.endsWith('/additionalProperties/not'))) return error.message;
  const context = error.validationContext ?? 'body';
  return entries
    .map((entry) =>
      entry.keyword === 'not' && entry.schemaPath.endsWith('/additionalProperties/not')
        ? `${context}${entry.instancePath} is not a known field`
        : `${context}${entry.instancePath} ${entry.message ?? 'is not valid'}`,
    )
    .join(', ');
}

/**
 * A 503 always says when to come back: a hook on the root instance, so it covers the routes
 * of every plugin registered after it (intake, web UI) whatever their own error handler sent.
 */
function installRetryAfter(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    return payload;
  });
}
