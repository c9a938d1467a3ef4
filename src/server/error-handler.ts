/**
 * The server's one error handler: every failure leaves as Datadog's `{"errors":[…]}`.
 *
 * - `RekeyError` → its catalogue status and message (messages never contain a key).
 * - Fastify schema validation → 400 with AJV's message, which names the field, not its value.
 * - Other client errors from Fastify (bad JSON, wrong content type, body too large) → their
 *   status with a fixed message: their own messages may quote the request body (Node's
 *   JSON.parse error quotes the start of the input), and a body may hold a key.
 * - Anything else is a bug: logged with its stack, answered 500 "Internal error".
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RekeyError } from '../errors.js';

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
  app.setErrorHandler((error: FastifyError | RekeyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof RekeyError) {
      if (error.status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(error.status).send({ errors: [error.message] });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      return reply.code(400).send({ errors: [fastifyError.message] });
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
