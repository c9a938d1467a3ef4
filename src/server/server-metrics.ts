/**
 * The server's Prometheus metrics, on a registry of its own per app instance (so several
 * apps in one process — tests, benchmarks — never collide in prom-client's global registry).
 *
 * - `rekey_http_requests_total{method,route,status}` and
 *   `rekey_http_request_duration_seconds{method,route}`: by route pattern, never by raw URL
 *   (bounded label cardinality, and a URL may carry `api_key=`).
 * - `rekey_key_operations_total{operation,result}`: create, rename, revoke, roll, restore of
 *   API keys and application keys, `result` ok or error.
 * - `rekey_auth_failures_total{reason}` and `rekey_auth_throttled_total`.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  readonly registry: Registry;
  readonly keyOperations: Counter<'operation' | 'result'>;
  readonly authFailures: Counter<'reason'>;
  readonly authThrottled: Counter;
}

export function createServerMetrics(options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'rekey_' });
  return {
    registry,
    keyOperations: new Counter({
      name: 'rekey_key_operations_total',
      help: 'Key management operations by operation and result',
      labelNames: ['operation', 'result'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'rekey_auth_failures_total',
      help: 'Rejected authentication attempts by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    authThrottled: new Counter({
      name: 'rekey_auth_throttled_total',
      help: 'Requests answered 429 because their address failed authentication too often',
      registers: [registry],
    }),
  };
}

/** Counts and times every request by its route pattern. */
export function installRequestMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  const requests = new Counter({
    name: 'rekey_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'rekey_http_request_duration_seconds',
    help: 'HTTP request latency by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}

/** Runs `operation`, counting it as ok or error under `name`. */
export async function countKeyOperation<T>(metrics: ServerMetrics, name: string, operation: () => Promise<T>): Promise<T> {
  try {
    const result = await operation();
    metrics.keyOperations.inc({ operation: name, result: 'ok' });
    return result;
  } catch (error) {
    metrics.keyOperations.inc({ operation: name, result: 'error' });
    throw error;
  }
}
