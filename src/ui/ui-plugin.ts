/**
 * rekey's web UI: server-rendered pages for API keys, application keys, hosts, the audit
 * trail and users, mounted at `/` of the server (`/login`, `/keys`, `/keys/:id`, `/app-keys`,
 * `/hosts`, `/audit`, `/users`, `/upstream`). It calls the store directly, never the HTTP API.
 *
 * Security, all in this file's hooks so no route can forget it:
 *  - every page but /login and the assets needs a session (src/ui/session-store.ts: in
 *    memory, per node; use sticky sessions behind a load balancer);
 *  - every POST carries the session's CSRF token in `_csrf` (403 otherwise), checked before
 *    the route runs; the sign-in form uses a double-submit cookie;
 *  - a strict Content-Security-Policy: scripts and styles only from this server's files,
 *    no inline code, no framing; every user-supplied text is escaped by `html` (html.ts);
 *  - roles: read_only users see no write controls and get 403 on any write; only admins
 *    manage API keys and users.
 *
 * @example
 *   await app.register(uiPlugin, { store, hasher });
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRekeyError, rekeyError } from '../errors.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import { constantTimeEqual } from '../keys/key-hasher.js';
import type { Store } from '../store/store.js';
import { UI_CSS } from './assets/ui-css.js';
import { UI_SCRIPT } from './assets/ui-script.js';
import { ASSET_PATHS } from './layout.js';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.js';
import { errorPage } from './pages/error-page.js';
import { registerApiKeyRoutes } from './routes/api-key-routes.js';
import { registerAppKeyRoutes } from './routes/app-key-routes.js';
import { registerAuthRoutes } from './routes/auth-routes.js';
import { registerOrgRoutes } from './routes/org-routes.js';
import { registerUpstreamRoutes } from './routes/upstream-routes.js';
import { SessionCookie } from './session-cookie.js';
import { SessionStore } from './session-store.js';
import { CAN, field, type UiDeps } from './ui-context.js';

export interface UiPluginOptions {
  store: Store;
  hasher: KeyHasher;
  /** Signs the session cookie (see session-cookie.ts). Optional: the id is 256 random bits. */
  cookieSecret?: string;
  /** Session lifetime from sign-in. Default 12 hours. */
  sessionTtlMs?: number;
  /** Failed sign-in limits (defaults: 5 per email, 20 per IP, per 15 minutes). */
  loginThrottle?: LoginThrottleOptions;
  /** For tests: the clock. */
  now?: () => Date;
  /**
   * A key's usage minutes (src/server/routes/api-key-usage-routes.ts `keyUsageMinutes`: stored
   * plus the intake's unwritten); default: the stored ones only.
   */
  usageMinutes?: UiDeps['usageMinutes'];
  /** Why this node's relay holds or is late delivering an organisation's payloads (src/relay/relay.ts); default: none. */
  relayProblems?: UiDeps['relayProblems'];
}

export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/**
 * No inline script or style, nothing from elsewhere. uPlot sets element styles from script
 * (CSSOM), which style-src does not restrict.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

declare module 'fastify' {
  interface FastifyContextConfig {
    /** UI routes that need no session (sign-in, assets). */
    rekeyUiPublic?: boolean;
  }
}

function loadAsset(specifier: string): string {
  return readFileSync(createRequire(import.meta.url).resolve(specifier), 'utf8');
}

export async function uiPlugin(app: FastifyInstance, options: UiPluginOptions): Promise<void> {
  const now = options.now ?? (() => new Date());
  // Sessions expire by the same clock as the rest of the UI (tests move it instead of sleeping).
  const sessions = new SessionStore({ ttlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, now: () => now().getTime() });
  const deps: UiDeps = {
    store: options.store,
    hasher: options.hasher,
    sessions,
    throttle: new LoginThrottle(options.loginThrottle),
    now,
    usageMinutes:
      options.usageMinutes ?? ((orgId, keyId, from, to) => options.store.listKeyUsageMinutes(orgId, keyId, { from: new Date(from), to: new Date(to) })),
    relayProblems: options.relayProblems ?? (() => []),
  };
  const cookie = new SessionCookie(options.cookieSecret);

  // The app may already parse cookies and forms; these plugins are global (fastify-plugin),
  // so registering them twice would fail.
  if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie);
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) await app.register(fastifyFormbody);

  app.decorateRequest('rekeyViewer', null);

  // Pages are not part of the HTTP API: keep them out of /api/openapi.json.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });

  // Assets are read once at start-up: serving them does no I/O.
  const assets: Record<string, { body: string; type: string }> = {
    [ASSET_PATHS.css]: { body: UI_CSS, type: 'text/css; charset=utf-8' },
    [ASSET_PATHS.js]: { body: UI_SCRIPT, type: 'text/javascript; charset=utf-8' },
    [ASSET_PATHS.uplotJs]: { body: loadAsset('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    [ASSET_PATHS.uplotCss]: { body: loadAsset('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
  for (const [path, asset] of Object.entries(assets)) {
    app.get(path, { config: { rekeyUiPublic: true } }, async (_request, reply) =>
      reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').send(asset.body),
    );
  }

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'same-origin');
    // Pages show secrets once and per-user data: never cached, never restored from history.
    reply.header('cache-control', 'no-store');
  });

  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config.rekeyUiPublic) return;
    const session = sessions.get(cookie.read(request));
    const user = session ? await deps.store.getUser(session.orgId, session.userId) : undefined;
    const org = session && user && !user.disabled ? await deps.store.getOrg(session.orgId) : undefined;
    // A disable, a password change or a reset ends every session begun before it (user lifecycle).
    const ended = session !== undefined && user !== undefined && user.sessionsEndedAt !== null && session.createdAt < user.sessionsEndedAt.getTime();
    if (!session || !user || !org || user.disabled || ended) {
      if (session) sessions.destroy(session.id);
      if (request.method === 'GET') {
        const next = encodeURIComponent(request.url);
        return reply.redirect(`/login?next=${next}`, 303);
      }
      // A write without a live session: never performed; the browser goes to sign in.
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(errorPage(403, 'Your session has ended. Sign in again.', null));
    }
    // The relay banner is for those who can act on it (the upstream is admin-only).
    request.rekeyViewer = { session, user, org, ...(CAN.viewUpstream(user.role) ? { relayProblems: deps.relayProblems(org.id) } : {}) };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!constantTimeEqual(field(request, '_csrf'), session.csrfToken)) throw rekeyError('CSRF_TOKEN_INVALID');
    }
  });

  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let status = 500;
    let message = 'Something went wrong on the server; the change was not made. Try again, and check the server log if it persists.';
    if (isRekeyError(error)) {
      status = error.status;
      message = error.message;
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      message = error.message;
    } else {
      request.log.error({ err: error }, 'web UI request failed');
    }
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(errorPage(status, message, request.rekeyViewer));
  });

  registerAuthRoutes(app, deps, cookie);
  registerApiKeyRoutes(app, deps);
  registerAppKeyRoutes(app, deps);
  registerOrgRoutes(app, deps);
  registerUpstreamRoutes(app, deps);
}
