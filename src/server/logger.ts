/**
 * The server's pino logger, built so that no key can reach a log line.
 *
 * Keys arrive in three places: the `DD-API-KEY` / `DD-APPLICATION-KEY` headers, the
 * `api_key` / `application_key` query parameters (the intake accepts them, as Datadog does,
 * percent-encoded or not: see maskUrl) and cookies. The request serializer logs only method, masked URL, host and peer address —
 * never headers — and `redact` censors the header and cookie paths as a second line of
 * defence for anyone who logs a raw request or headers object.
 *
 * @example
 *   const logger = createServerLogger({ level: 'info', stream: process.stdout });
 *   const app = await buildApp({ store, hasher, logger });
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Query parameters whose values are secrets (compared decoded and case-insensitively). */
const SECRET_QUERY_PARAMETERS = new Set(['api_key', 'application_key', 'dd-api-key', 'dd-application-key', 'dd_api_key', 'dd_application_key']);
/**
 * A key (32 or 40 hex characters) anywhere in a decoded value, whatever its parameter's name —
 * or a good part of one: 16 hex characters or more, so a truncated or mistyped key (31 of its
 * 32 characters) is not logged either; what stays unmasked leaves at least 64 bits unknown.
 * UUIDs (runs of at most 12) are kept.
 */
const KEY_LIKE = /[0-9a-f]{16}/i;

/**
 * `text` with every run of 16 or more hex characters (KEY_LIKE) replaced by [REDACTED]: for
 * messages that name what a client sent, such as a body's unknown field, where a careless
 * client may have put a key (error-handler.ts).
 */
export function maskKeyLike(text: string): string {
  return KEY_LIKE.test(text) ? text.replace(/[0-9a-f]{16,}/gi, '[REDACTED]') : text;
}

/**
 * `/api/v1/series?api_key=abcd…` → `/api/v1/series?api_key=[REDACTED]`.
 *
 * The query is parsed the way the server parses it (split on `&`, names and values
 * percent-decoded, `+` a space), so `?api%5Fkey=…` and `?%61pi_key=…`, which the intake and
 * `/api/v1/validate` read as `api_key`, are masked too: a regex on the raw URL misses them.
 * Any value that decodes to something containing 32 hex characters is masked as well,
 * whatever its parameter is called, and so is any path segment that holds one (maskPath).
 */
export function maskUrl(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return maskPath(url);
  const end = url.indexOf('#', start);
  const query = url.slice(start + 1, end === -1 ? undefined : end);
  const masked = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    const secret = SECRET_QUERY_PARAMETERS.has(decodeLoosely(name).trim().toLowerCase());
    if (secret || KEY_LIKE.test(decodeLoosely(value)) || KEY_LIKE.test(decodeLoosely(name))) return `${secret ? name : '[REDACTED]'}=[REDACTED]`;
    return part;
  });
  return `${maskPath(url.slice(0, start))}?${masked.join('&')}`;
}

/**
 * A path segment that decodes to something holding 32 hex characters is masked: no route takes
 * a key in its path, but a client that puts one there (`/api/v1/validate/<key>`, a typo'd URL
 * answered 404) must not get it logged.
 */
function maskPath(path: string): string {
  if (!KEY_LIKE.test(decodeLoosely(path))) return path; // the usual case: no copy
  return path
    .split('/')
    .map((segment) => (KEY_LIKE.test(decodeLoosely(segment)) ? '[REDACTED]' : segment))
    .join('/');
}

/** Percent-decoding that never throws: a malformed sequence stays as it is, valid ones around it are decoded. */
function decodeLoosely(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9a-f]{2})/gi, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
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
