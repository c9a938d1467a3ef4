/**
 * How the intake's routes fail: Datadog's `{"errors":[…]}`, a storage failure as 503 with
 * Retry-After (temporary: disk full, database down), a refused payload (4xx) counted against
 * its key's budget, and never a message that could quote the body (a body may hold a key).
 */
import type { FastifyInstance } from 'fastify';
import { RekeyError } from '../errors.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../points/point-writer.js';
import type { IntakeAuth } from './intake-auth.js';

/** Sets the error handler of `app` (the intake's encapsulated instance). */
export function installIntakeErrorHandler(app: FastifyInstance, auth: IntakeAuth): void {
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    // A storage failure (disk full, database down) is temporary: tell the client when to retry.
    if ((error instanceof RekeyError ? error.status : (error.statusCode ?? 503)) === 503) reply.header('retry-after', String(STORAGE_RETRY_AFTER_SECONDS));
    // A refused body may not have been read to its end (read-body.ts): close after the 413.
    if ((error instanceof RekeyError ? error.status : error.statusCode) === 413) reply.header('connection', 'close');
    if ((error instanceof RekeyError ? error.status : (error.statusCode ?? 500)) < 500) auth.countRefusedPayload(request);
    if (error instanceof RekeyError) {
      if (error.status >= 500) request.log.error({ err: error }, 'intake request failed');
      return reply.code(error.status).send({ errors: [error.message] });
    }
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // Fastify's own messages may quote the body; a body may hold a key.
      return reply.code(status).send({ errors: [status === 413 ? 'The request body is too large' : 'Bad request'] });
    }
    request.log.error({ err: error }, 'intake: storing failed');
    return reply.code(503).send({ errors: ['The data could not be stored; retry'] });
  });
}
