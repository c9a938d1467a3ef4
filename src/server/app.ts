/**
 * The rekey HTTP server as a Fastify instance: management API, operations endpoints, and
 * the places where the intake and the web UI plug in. Built without listening, so tests
 * `inject` into it and the CLI (`rekey server`) listens on it.
 *
 * @example
 *   const app = await buildApp({ store, hasher, logger: createServerLogger() });
 *   await app.listen({ host: '127.0.0.1', port: 8080 });
 */
import swagger from '@fastify/swagger';
import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Logger, LoggerOptions } from 'pino';
import { rekeyError } from '../errors.js';
import { intakeLimitsFromEnv } from '../intake/intake-env.js';
import { registerIntake } from '../intake/intake-plugin.js';
import type { IntakeOptions, IntakeRuntime } from '../intake/intake-runtime.js';
import { MAX_METRIC_NAME } from '../intake/series-limits.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Store } from '../store/store.js';
import { VERSION } from '../version.js';
import { createAuthThrottle, type AuthThrottleOptions } from './auth-throttle.js';
import { installErrorHandlers } from './error-handler.js';
import { serverLoggerOptions } from './logger.js';
import { fastifyRequestLogging, installRequestLog, quietRequestLog, startRequestSummary } from './request-log.js';
import { createAuthenticator } from './management-auth.js';
import { apiKeyRoutes } from './routes/api-key-routes.js';
import { appKeyRoutes } from './routes/app-key-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { eventRoutes } from './routes/event-routes.js';
import { apiKeyUsageRoutes, keyUsageMinutes } from './routes/api-key-usage-routes.js';
import { upstreamRoutes } from './routes/upstream-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { hostRoutes } from './routes/host-routes.js';
import { metricListRoutes } from './routes/metric-list-routes.js';
import { metricMetadataRoutes } from './routes/metric-metadata-routes.js';
import { queryRoutes } from './routes/query-routes.js';
import { v1ApiKeyRoutes } from './routes/v1-api-key-routes.js';
import { v1AppKeyRoutes } from './routes/v1-app-key-routes.js';
import { validateRoute } from './routes/validate-route.js';
import type { ServerContext } from './server-context.js';
import { createServerMetrics, installRequestMetrics } from './server-metrics.js';

/** Every intake option but those the server supplies itself. */
export type IntakeSettings = Omit<IntakeOptions, 'store' | 'hasher' | 'metricsRegistry'>;

export interface AppDeps {
  store: Store;
  hasher: KeyHasher;
  /**
   * A pino instance (build it with `createServerLogger` so keys are redacted), pino options
   * (the server's redaction and serializers are added), or `false` for no logs. Default: info to stdout.
   */
  logger?: Logger | LoggerOptions | false;
  /**
   * Which proxies to believe about the client's address (`X-Forwarded-For`): a hop count, or
   * the proxies' addresses/CIDRs (see `parseTrustProxy`). Default: none, `request.ip` is the peer.
   */
  trustProxy?: number | string[];
  /** Request and connection timeouts; defaults in SERVER_TIMEOUTS (tests shorten them). */
  timeouts?: Partial<ServerTimeouts>;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer | string; key: Buffer | string };
  /** Failed-authentication throttle; default 20 failures per minute per address. */
  authThrottle?: AuthThrottleOptions;
  /** Collect Node process metrics in `/metrics` (the CLI turns this on). */
  defaultMetrics?: boolean;
  /** The server's clock; for tests. */
  now?: () => Date;
  /**
   * The intake's settings (src/intake/intake-runtime.ts `IntakeOptions`): the server sets the
   * journal directory with SQLite, the save interval and the durability policy
   * (docs/operations.md#durability); tests set limits and clocks. Given settings win over the
   * REKEY_INTAKE_* environment (intake-env.ts).
   */
  intake?: IntakeSettings;
  /** How often the intake's request summary is logged (request-log.ts; default 60 s). */
  requestSummaryIntervalMs?: number;
  /** Relay mode (src/relay/relay.ts): the spool and upstream defaults; the server always sets it. Without it, no organisation is relayed. */
  relay?: Omit<import('../relay/relay.js').RelayOptions, 'store' | 'log' | 'registry' | 'sync'>;
}

/** How long a client may take; every bound is per connection. docs/security.md. */
export interface ServerTimeouts {
  /** Whole request (headers and body) received within this, or 408 and the connection closed. */
  requestMs: number;
  /** Request headers received within this (slowloris), or 408 and closed. */
  headersMs: number;
  /** A socket with no traffic at all for this long is closed. */
  idleMs: number;
  /** An idle keep-alive connection between requests is closed after this (above common load balancers' 60 s). */
  keepAliveMs: number;
  /** How often Node checks the request and headers deadlines: the bounds hold to within this. */
  checkIntervalMs: number;
}

/**
 * 30 s for a whole request: the Datadog Agent itself gives up on a request after 20 s
 * (`forwarder_timeout`), and the largest intake body (3.2 MB) needs ~110 kB/s to fit.
 */
export const SERVER_TIMEOUTS: ServerTimeouts = { requestMs: 30_000, headersMs: 10_000, idleMs: 60_000, keepAliveMs: 72_000, checkIntervalMs: 1_000 };

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's shared context, for plugins (intake, UI) registered on this app. */
    rekey: ServerContext;
  }
}

/**
 * Fastify refuses an empty body sent with `Content-Type: application/json` (400); many HTTP
 * clients send that header on DELETE and on body-less POSTs (restore, roll). Treat an empty
 * JSON body as no body; anything else goes to Fastify's own (prototype-poisoning-safe) parser.
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    return parseJson(request, body as string, done);
  });
}

/**
 * `--trust-proxy`'s value: a hop count (`1`: one proxy in front, the address it appends to
 * `X-Forwarded-For` is the client's) or a comma-separated list of the proxies' addresses and
 * CIDRs (`10.0.0.0/8,192.168.1.7`, or proxy-addr's `loopback`, `linklocal`, `uniquelocal`).
 * Never "trust everything": then any client names its own address (the leftmost entry) and
 * walks around every per-address throttle. Throws USAGE with what to write instead.
 *
 * @example parseTrustProxy('1') // 1;  parseTrustProxy('10.0.0.0/8, ::1') // ['10.0.0.0/8', '::1']
 */
export function parseTrustProxy(text: string): number | string[] {
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops < 1 || hops > 10)
      throw rekeyError('USAGE', { detail: `--trust-proxy ${value}: a hop count is 1 to 10 (the number of proxies in front of rekey)` });
    return hops;
  }
  if (/^(true|all|yes|\*|0\.0\.0\.0\/0|::\/0)$/i.test(value)) {
    throw rekeyError('USAGE', {
      detail: `--trust-proxy ${value} would believe X-Forwarded-For from anyone, so any client could forge its address and escape the per-address throttles; give the number of proxies in front of rekey (e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8)`,
    });
  }
  const entries = value.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    if (!isAddressOrCidr(entry)) {
      throw rekeyError('USAGE', {
        detail: `--trust-proxy: "${entry}" is not an IP address or CIDR (e.g. 10.0.0.0/8); give a hop count or a comma-separated list of your proxies' addresses`,
      });
    }
  }
  return entries;
}

function isAddressOrCidr(entry: string): boolean {
  if (entry === 'loopback' || entry === 'linklocal' || entry === 'uniquelocal') return true;
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Fastify takes address lists as they are; a hop count it treats as "trust nobody" (it cannot
 * check the peer), so the count is a function: the peer and the next `hops - 1` addresses of
 * `X-Forwarded-For`, from the right, are proxies; the one after them is the client.
 */
function fastifyTrustProxy(trust: number | string[]): string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust;
}

function isLoggerInstance(logger: AppDeps['logger']): logger is Logger {
  return typeof logger === 'object' && logger !== null && typeof (logger as Logger).child === 'function';
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const logging: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> = isLoggerInstance(deps.logger)
    ? { loggerInstance: deps.logger }
    : deps.logger === false
      ? { logger: false }
      : { logger: serverLoggerOptions(deps.logger ?? {}) };

  const timeouts = { ...SERVER_TIMEOUTS, ...deps.timeouts };
  // Node's own deadlines for headers and whole requests (it answers 408 and closes); Fastify
  // leaves requestTimeout off by default, so a client dripping a byte every few seconds kept
  // a connection (and its request) forever.
  const nodeServerOptions = { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkIntervalMs };
  const app = Fastify({
    ...logging,
    // A path parameter may be a whole metric name (GET/PUT /api/v1/metrics/{metric_name}): up
    // to MAX_METRIC_NAME characters, each up to 9 once percent-encoded. Fastify's default (100)
    // answered 414 for names the intake accepts.
    routerOptions: { maxParamLength: MAX_METRIC_NAME * 9 },
    // One line per management request and none per intake request: request-log.ts.
    ...fastifyRequestLogging(),
    ...(deps.trustProxy === undefined ? {} : { trustProxy: fastifyTrustProxy(deps.trustProxy) }),
    ...(deps.https === undefined ? { http: nodeServerOptions } : { https: { ...deps.https, ...nodeServerOptions } }),
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
  });

  closeSilentConnections(app.server, timeouts.headersMs);

  const metrics = createServerMetrics({ defaultMetrics: deps.defaultMetrics ?? false });
  const now = deps.now ?? (() => new Date());
  const ctx: ServerContext = {
    store: deps.store,
    hasher: deps.hasher,
    metrics,
    now,
    auth: createAuthenticator({
      store: deps.store,
      hasher: deps.hasher,
      throttle: createAuthThrottle(deps.authThrottle),
      metrics,
      now,
    }),
  };
  app.decorate('rekey', ctx);
  app.decorateRequest('auth', null);
  installErrorHandlers(app);
  installRequestMetrics(app, metrics);
  installRequestLog(app);
  acceptEmptyJsonBodies(app);

  // Registered before any route: it collects every route's schema as the route is added.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'rekey',
        version: VERSION,
        description: 'Self-hosted, Datadog-compatible API keys. Management auth: DD-API-KEY + DD-APPLICATION-KEY headers.',
      },
      components: {
        securitySchemes: {
          apiKeyAuth: { type: 'apiKey', in: 'header', name: 'DD-API-KEY' },
          appKeyAuth: { type: 'apiKey', in: 'header', name: 'DD-APPLICATION-KEY' },
        },
      },
      security: [{ apiKeyAuth: [], appKeyAuth: [] }],
    },
  });

  noStoreForKeyRoutes(app);
  await healthRoutes(app, ctx);
  await validateRoute(app, ctx);
  await apiKeyRoutes(app, ctx);
  await appKeyRoutes(app, ctx);
  await v1ApiKeyRoutes(app, ctx);
  await v1AppKeyRoutes(app, ctx);
  await auditRoutes(app, ctx);
  await userRoutes(app, ctx);
  await upstreamRoutes(app, ctx); // relay upstream settings, admin only (issue 19)

  // relay mode (src/relay/**): spools and forwards the payloads of organisations in relay mode
  const relay =
    deps.relay === undefined
      ? undefined
      : await (
          await import('../relay/relay.js')
        ).Relay.start({ ...deps.relay, store: deps.store, log: app.log, registry: metrics.registry, sync: deps.intake?.durability === 'power' });
  if (relay !== undefined) {
    ctx.problems = () => relay.problems();
    app.addHook('onClose', async () => relay.close());
  }

  // The intake (src/intake/**), in a scope whose routes log no line per request: a summary
  // every requestSummaryIntervalMs instead (request-log.ts). Then the management reads of what it stored.
  let intake: IntakeRuntime | undefined;
  let intakeRoutes = new Set<string>();
  await app.register(async (intakeScope) => {
    intakeRoutes = quietRequestLog(intakeScope);
    intake = await registerIntake(intakeScope, {
      ...intakeLimitsFromEnv(process.env),
      ...deps.intake,
      store: deps.store,
      hasher: deps.hasher,
      metricsRegistry: metrics.registry,
      ...(relay === undefined ? {} : { relay }),
    });
  });
  if (intake === undefined) throw new Error('the intake did not register');
  startRequestSummary(app, { registry: metrics.registry, routes: intakeRoutes, intervalMs: deps.requestSummaryIntervalMs ?? 60_000 });
  await queryRoutes(app, ctx, intake);
  await hostRoutes(app, ctx, intake);
  await metricListRoutes(app, ctx, intake);
  await metricMetadataRoutes(app, ctx, intake);
  await eventRoutes(app, ctx, intake);
  await apiKeyUsageRoutes(app, ctx, intake); // per-key usage minutes and limits (issue 19)

  // web UI plugin registers here (src/ui/**)
  const runningIntake = intake;
  await app.register((await import('../ui/ui-plugin.js')).uiPlugin, {
    store: deps.store,
    hasher: deps.hasher,
    now,
    usageMinutes: (orgId, keyId, from, to) => keyUsageMinutes(deps.store, runningIntake, orgId, keyId, from, to),
    relayProblems: (orgId) => relay?.problemsOf(orgId) ?? [],
  });

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}

/**
 * Closes a connection that sends nothing within `headersMs` of connecting. Node's headers
 * deadline starts with the first byte, and on Node 20 its socket timeout never fires while the
 * connection checker runs more often than it (seen: a raw connection that wrote nothing was
 * still open after 300 s). One timer per connection, checked once.
 */
function closeSilentConnections(server: { on(event: 'connection', listener: (socket: import('node:net').Socket) => void): unknown }, headersMs: number): void {
  server.on('connection', (socket) => {
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, headersMs);
    timer.unref();
    // No 'data' listener: the HTTP parser consumes the socket natively and a JS listener would
    // not see its bytes; bytesRead counts them either way.
    socket.once('close', () => clearTimeout(timer));
  });
}

/** The management routes whose answers can carry a secret shown once (a new key, a reset password). */
const SECRET_BEARING_ROUTES = /^\/api\/(v2\/(api_keys|application_keys|current_user|users)|v1\/(api_key|application_key))(\/|$)/;

/**
 * `Cache-Control: no-store` on every answer of the key and user routes, so no shared or browser
 * cache keeps a key shown once. Added per route when it is registered: the intake's routes pay
 * nothing for it.
 */
function noStoreForKeyRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!SECRET_BEARING_ROUTES.test(route.url)) return;
    const noStore = (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      void reply.header('cache-control', 'no-store');
      done();
    };
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, noStore] as typeof route.onRequest;
  });
}
