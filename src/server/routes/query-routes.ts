/**
 * `GET /api/v1/query`: a metric query over what the intake stored → Datadog's
 * MetricsQueryResponse (docs/product.md §3). The whole query language of
 * src/points/metric-query.ts: comma-separated queries, arithmetic, `.as_count()`,
 * `.as_rate()`, `.rollup()`, `.fill()`. Management auth and `metrics:query`
 * (src/access/policy.ts); every point the caller was acknowledged is read back.
 */
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { evaluateQueries, groupByOf, metricQueriesOf, parseQueries, pointSource } from '../../points/metric-query.js';
import type { StoredPoint } from '../../points/point-store.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { integerParam } from './integer-param.js';

export async function queryRoutes(app: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  app.get('/api/v1/query', { preHandler: [ctx.auth.management, requireAction('metrics:query', 'querying metrics')] }, async (request, reply) => {
    const { orgId } = authOf(request);
    const query = request.query as Record<string, unknown>;
    const from = integerParam(query.from, 'from');
    const to = integerParam(query.to, 'to');
    if (to < from) throw rekeyError('INVALID_QUERY', { detail: '"to" is before "from"' });
    if (typeof query.query !== 'string' || query.query === '') {
      throw rekeyError('INVALID_QUERY', { detail: 'The "query" parameter is required, e.g. avg:system.load.1{*}' });
    }
    const parsed = parseQueries(query.query);
    // Each metric read once, however often the queries name it.
    // (Percentile aggregators, p50..p99, are for the sketch store: a SeriesSource that answers
    // those leaves is where distributions plug in; here they are refused with INVALID_QUERY.)
    const points = new Map<string, StoredPoint[]>();
    for (const metric of new Set(parsed.flatMap(metricQueriesOf).map((q) => q.metric))) {
      points.set(metric, await intake.queryPoints({ orgId, metric, from, to }));
    }
    const window = { from, to };
    return reply.send({
      status: 'ok',
      res_type: 'time_series',
      series: evaluateQueries(parsed, pointSource((q) => points.get(q.metric) ?? [], window)),
      from_date: from * 1000,
      to_date: to * 1000,
      query: query.query,
      message: '',
      group_by: groupByOf(parsed),
    });
  });
}
