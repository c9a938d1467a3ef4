/**
 * `GET /api/v1/query`: a metric query over what the intake stored → Datadog's
 * MetricsQueryResponse (docs/product.md §3). Management auth and `metrics:query`
 * (src/access/policy.ts); every point the caller was acknowledged is read back.
 */
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { evaluateMetricQuery, parseMetricQuery } from '../../points/metric-query.js';
import { answerSketchQuery, parseSketchQuery } from '../../points/sketch-query.js';
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
    // A distribution (sketches) is answered from its sketches: p50…p99, avg, sum, min, max, count.
    const sketchSeries = await answerSketchQuery(intake.sketches, orgId, query.query, from, to);
    if (sketchSeries !== null) {
      return reply.send({ status: 'ok', res_type: 'time_series', series: sketchSeries, from_date: from * 1000, to_date: to * 1000, query: query.query, message: '', group_by: parseSketchQuery(query.query)!.groupBy });
    }
    const parsed = parseMetricQuery(query.query);
    const points = await intake.queryPoints({ orgId, metric: parsed.metric, from, to });
    // The unit the metric's series declared, as Datadog gives it: [unit, per_unit].
    const unit = await intake.units.queryUnit(orgId, parsed.metric);
    return reply.send({
      status: 'ok',
      res_type: 'time_series',
      series: evaluateMetricQuery(parsed, points).map((series) => (unit === null ? series : { ...series, unit })),
      from_date: from * 1000,
      to_date: to * 1000,
      query: query.query,
      message: '',
      group_by: parsed.groupBy,
    });
  });
}
