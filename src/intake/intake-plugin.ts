/**
 * The metric intake, wired (docs/product.md §3): the runtime (intake-runtime.ts), the
 * authentication hook (intake-auth.ts), the raw-body parser (intake-body.ts), the error
 * handler (intake-error-handler.ts), and one `register…Routes(app, deps)` call per route group:
 *
 *   POST /api/v1/series, /api/v2/series   series-routes.ts
 *   POST /api/v1/check_run                check-run-routes.ts
 *   POST /intake/                         host-metadata-routes.ts
 *   POST /api/v1/distribution_points      distribution-routes.ts
 *
 * The management reads of what the intake stored (`GET /api/v1/query`, `GET /api/v1/hosts`)
 * are server routes under the management auth (src/server/routes/query-routes.ts,
 * host-routes.ts), reading through the runtime.
 *
 * The routes live in an encapsulated plugin (not fastify-plugin): its raw-body content-type
 * parser and its error handler apply to the intake's own routes only.
 *
 * @example
 *   const intake = await registerIntake(app, { store, hasher });
 *   await queryRoutes(app, ctx, intake);
 */
import type { FastifyInstance } from 'fastify';
import { registerCheckRunRoutes } from './check-run-routes.js';
import { registerDistributionRoutes } from './distribution-routes.js';
import { registerEventRoutes } from './event-routes.js';
import { registerHostMetadataRoutes } from './host-metadata-routes.js';
import { createIntakeAuth } from './intake-auth.js';
import { installIntakeBodyParser } from './intake-body.js';
import { installIntakeErrorHandler } from './intake-error-handler.js';
import { registerRelayOnlyRoute } from './intake-relay.js';
import type { IntakeRouteDeps } from './intake-route-deps.js';
import { IntakeRuntime, type IntakeOptions } from './intake-runtime.js';
import { registerSeriesRoutes } from './series-routes.js';
import { registerSketchRoutes } from './sketch-routes.js';

/**
 * Starts an intake runtime on `app` (closed with it) and registers the intake's routes;
 * returns the runtime, for the read routes.
 */
export async function registerIntake(app: FastifyInstance, options: IntakeOptions): Promise<IntakeRuntime> {
  const runtime = new IntakeRuntime(options, app.log);
  await runtime.start();
  app.addHook('onClose', () => runtime.close());
  await app.register(intakeRoutes, { runtime, auth: createIntakeAuth(runtime) });
  return runtime;
}

/**
 * The intake's routes on an encapsulated instance, with the given runtime and authentication
 * (registerIntake passes the real ones; a benchmark may compose its own from these pieces).
 */
export async function intakeRoutes(app: FastifyInstance, deps: IntakeRouteDeps): Promise<void> {
  installIntakeBodyParser(app, deps.runtime.limitsV1, deps.runtime.caps, (request, wireBytes) => deps.auth.countBodyBytes(request, wireBytes));
  installIntakeErrorHandler(app, deps.auth);
  registerSeriesRoutes(app, deps);
  registerCheckRunRoutes(app, deps);
  registerHostMetadataRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerSketchRoutes(app, deps);
  registerDistributionRoutes(app, deps);
  registerRelayOnlyRoute(app, deps.runtime, deps.auth); // any other /api/… intake path: relay mode only
}
