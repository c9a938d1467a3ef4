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
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger, LoggerOptions } from 'pino';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Store } from '../store/store.js';
import { VERSION } from '../version.js';
import { createAuthThrottle, type AuthThrottleOptions } from './auth-throttle.js';
import { installErrorHandlers } from './error-handler.js';
import { serverLoggerOptions } from './logger.js';
import { createAuthenticator, intakeReadAuth } from './management-auth.js';
import { apiKeyRoutes } from './routes/api-key-routes.js';
import { appKeyRoutes } from './routes/app-key-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { validateRoute } from './routes/validate-route.js';
import type { ServerContext } from './server-context.js';
import { createServerMetrics, installRequestMetrics } from './server-metrics.js';

export interface AppDeps {
  store: Store;
  hasher: KeyHasher;
  /**
   * A pino instance (build it with `createServerLogger` so keys are redacted), pino options
   * (the server's redaction and serializers are added), or `false` for no logs. Default: info to stdout.
   */
  logger?: Logger | LoggerOptions | false;
  /** Fastify's `trustProxy`: set it behind a reverse proxy so `request.ip` is the client's. */
  trustProxy?: FastifyServerOptions['trustProxy'];
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer | string; key: Buffer | string };
  /** Failed-authentication throttle; default 20 failures per minute per address. */
  authThrottle?: AuthThrottleOptions;
  /** Collect Node process metrics in `/metrics` (the CLI turns this on). */
  defaultMetrics?: boolean;
  /** The server's clock; for tests. */
  now?: () => Date;
  /** The intake's journal directory (intake-plugin.ts `journalDir`); the server sets it with SQLite. */
  intakeJournalDir?: string;
  /** How often the intake saves journaled points into the database (default 1000 ms). */
  intakeSaveIntervalMs?: number;
  /** The intake's durability policy (intake-plugin.ts `durability`; docs/operations.md#durability). */
  intakeDurability?: 'process' | 'power';
}

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

function isLoggerInstance(logger: AppDeps['logger']): logger is Logger {
  return typeof logger === 'object' && logger !== null && typeof (logger as Logger).child === 'function';
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const logging: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> = isLoggerInstance(deps.logger)
    ? { loggerInstance: deps.logger }
    : deps.logger === false
      ? { logger: false }
      : { logger: serverLoggerOptions(deps.logger ?? {}) };

  const app = Fastify({
    ...logging,
    ...(deps.trustProxy === undefined ? {} : { trustProxy: deps.trustProxy }),
    ...(deps.https === undefined ? {} : { https: deps.https }),
  }) as unknown as FastifyInstance;

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

  await healthRoutes(app, ctx);
  await validateRoute(app, ctx);
  await apiKeyRoutes(app, ctx);
  await appKeyRoutes(app, ctx);
  await auditRoutes(app, ctx);
  await userRoutes(app, ctx);

  // intake plugin registers here (src/intake/**)
  await app.register((await import('../intake/intake-plugin.js')).intakePlugin, { store: deps.store, hasher: deps.hasher, metricsRegistry: metrics.registry, ...(deps.intakeJournalDir === undefined ? {} : { journalDir: deps.intakeJournalDir }), ...(deps.intakeSaveIntervalMs === undefined ? {} : { journalSaveIntervalMs: deps.intakeSaveIntervalMs }), ...(deps.intakeDurability === undefined ? {} : { durability: deps.intakeDurability }), ...(await import('../intake/intake-env.js')).intakeLimitsFromEnv(process.env), managementAuth: intakeReadAuth(ctx.auth) });

  // web UI plugin registers here (src/ui/**)
  await app.register((await import('../ui/ui-plugin.js')).uiPlugin, { store: deps.store, hasher: deps.hasher, now });

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}
