/**
 * What the server logs about requests: one line per management or web UI request, none per
 * intake request, and a periodic summary of the intake's requests instead.
 *
 * Why: Fastify's own request logging writes two pino lines per request ("incoming request",
 * "request completed"). On the intake — thousands of requests a second from every agent —
 * that was 107,000 lines in 15 s and, in the profile of the shipped server
 * (bench/profile-shipped-server.ts), ~40 µs of CPU per request (serialising, redacting and a
 * synchronous write() each): about a seventh of everything the server spent on a request.
 * The intake's requests are already counted by route and status in `/metrics`
 * (server-metrics.ts), so the log gets one summary line per interval from those counters, at
 * no cost per request. Errors are still logged where they happen (error-handler.ts, the
 * intake's handlers), with the request's id.
 *
 * Management requests are few and each one matters to an operator (who revoked what, from
 * where): they keep one line each, with the masked URL, status and time (logger.ts's
 * serializers; never a header).
 */
import { LogController, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: no per-request log line for this route (the intake's); see request-log.ts. */
    requestLog?: boolean;
  }
}

/** The Fastify options that turn its own two lines per request off; `installRequestLog` logs instead. */
export function fastifyRequestLogging(): { logController: LogController } {
  return { logController: new LogController({ disableRequestLogging: true }) };
}

/**
 * One line per request, after the answer, for every route but those with
 * `config.requestLog === false` (and for requests that match no route: 404s are worth seeing).
 * A single synchronous hook: a quiet route pays one property read.
 */
export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    if (request.routeOptions.config.requestLog !== false) {
      request.log.info({ req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    }
    done();
  });
}

/**
 * Marks every route registered on `scope` (and its children) as not logged per request, and
 * returns the set of their `METHOD url` patterns, which the summary reports on.
 */
export function quietRequestLog(scope: FastifyInstance): Set<string> {
  const routes = new Set<string>();
  scope.addHook('onRoute', (route) => {
    route.config = { ...route.config, requestLog: false };
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.add(`${method} ${route.url}`);
  });
  return routes;
}

interface CounterSample {
  value: number;
  labels: Partial<Record<string, string | number>>;
}

/**
 * Every `intervalMs`, one info line with the requests the quiet routes answered since the last
 * line, by status (`{"intakeRequests":1234,"byStatus":{"202":1230,"403":4}}`), read from the
 * `rekey_http_requests_total` counter of `registry`. Nothing is logged for an interval without
 * requests. A last line is logged when the app closes.
 */
export function startRequestSummary(app: FastifyInstance, options: { registry: Registry; routes: Set<string>; intervalMs: number }): void {
  const seen = new Map<string, number>();
  const summarise = async () => {
    const counter = options.registry.getSingleMetric('rekey_http_requests_total');
    if (counter === undefined) return;
    const { values } = (await counter.get()) as { values: CounterSample[] };
    const byStatus: Record<string, number> = {};
    let total = 0;
    for (const { value, labels } of values) {
      if (!options.routes.has(`${String(labels['method'])} ${String(labels['route'])}`)) continue;
      const key = `${String(labels['method'])} ${String(labels['route'])} ${String(labels['status'])}`;
      const delta = value - (seen.get(key) ?? 0);
      seen.set(key, value);
      if (delta <= 0) continue;
      const status = String(labels['status']);
      byStatus[status] = (byStatus[status] ?? 0) + delta;
      total += delta;
    }
    if (total > 0)
      app.log.info(
        { intakeRequests: total, byStatus, intervalSeconds: options.intervalMs / 1000 },
        'intake requests since the last summary (per-request lines are not logged; /metrics counts them)',
      );
  };
  const timer = setInterval(() => void summarise().catch((error: unknown) => app.log.warn({ err: error }, 'request summary failed')), options.intervalMs);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await summarise();
  });
}
