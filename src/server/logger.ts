/**
 * The server's pino logger, built so that no key can reach a log line.
 *
 * Keys arrive in three places: the `DD-API-KEY` / `DD-APPLICATION-KEY` headers, the
 * `api_key` / `application_key` query parameters (the intake accepts them, as Datadog does)
 * and cookies. The request serializer logs only method, masked URL, host and peer address —
 * never headers — and `redact` censors the header and cookie paths as a second line of
 * defence for anyone who logs a raw request or headers object.
 *
 * @example
 *   const logger = createServerLogger({ level: 'info', stream: process.stdout });
 *   const app = await buildApp({ store, hasher, logger });
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Query parameters whose values are secrets and are masked in every logged URL. */
const SECRET_QUERY_PARAMETERS = ['api_key', 'application_key', 'dd-api-key', 'dd-application-key'];
const SECRET_QUERY = new RegExp(`([?&](?:${SECRET_QUERY_PARAMETERS.join('|')})=)[^&#]*`, 'gi');

/** `/api/v1/series?api_key=abcd…` → `/api/v1/series?api_key=[REDACTED]`. */
export function maskUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[REDACTED]');
}

const HEADER_PATHS = ['dd-api-key', 'dd-application-key', 'cookie', 'authorization', 'set-cookie'].flatMap((h) => [
  `req.headers["${h}"]`,
  `headers["${h}"]`,
  `res.headers["${h}"]`,
]);

interface LoggableRequest {
  method?: string;
  url?: string;
  host?: string;
  hostname?: string;
  ip?: string;
  socket?: { remotePort?: number };
  routeOptions?: { url?: string };
}

/** Serializers shared by the server's logger and any instance a caller passes in. */
export const serverSerializers = {
  req(request: LoggableRequest) {
    return {
      method: request.method,
      url: maskUrl(request.url ?? ''),
      route: request.routeOptions?.url,
      host: request.host ?? request.hostname,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
  res(reply: { statusCode?: number }) {
    return { statusCode: reply.statusCode };
  },
  err: pino.stdSerializers.err,
};

/** pino options with the server's redaction and serializers; `overrides` win except for those. */
export function serverLoggerOptions(overrides: LoggerOptions = {}): LoggerOptions {
  return {
    level: 'info',
    ...overrides,
    redact: { paths: HEADER_PATHS, censor: '[REDACTED]' },
    serializers: { ...overrides.serializers, ...serverSerializers },
  };
}

export function createServerLogger(options: { level?: string; stream?: DestinationStream } = {}): Logger {
  const opts = serverLoggerOptions(options.level === undefined ? {} : { level: options.level });
  return options.stream === undefined ? pino(opts) : pino(opts, options.stream);
}
