/**
 * `GET /api/v1/query`: a metric query over what the intake stored → Datadog's
 * MetricsQueryResponse (docs/product.md §3). Management auth and `metrics:query`
 * (src/access/policy.ts); every point the caller was acknowledged is read back.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { evaluateMetricQuery, parseMetricQuery } from '../../points/metric-query.js';
import { answerSketchQuery, parseSketchQuery } from '../../points/sketch-query.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';

/** Seconds since the epoch, as Datadog's v1 routes take them (up to 12 digits). */
export const epochSecondsT = (description: string) => Type.Integer({ minimum: 0, maximum: 999_999_999_999, description });

const queryString = Type.Object({
  from: epochSecondsT('Start of the range, seconds since the epoch (inclusive)'),
  to: epochSecondsT('End of the range, seconds since the epoch (inclusive)'),
  query: Type.String({ minLength: 1, description: 'A metric query, e.g. avg:system.load.1{*} by {host}' }),
});

const queryResponse = Type.Object(
  {
    status: Type.String({ description: 'Always ok' }),
    res_type: Type.String({ description: 'Always time_series' }),
    series: Type.Array(Type.Object({}, { additionalProperties: true }), { description: "Datadog's MetricsQueryMetadata: metric, scope, tag_set, pointlist, …" }),
    from_date: Type.Integer({ description: 'from, in milliseconds' }),
    to_date: Type.Integer({ description: 'to, in milliseconds' }),
    query: Type.String(),
    message: Type.String(),
    group_by: Type.Array(Type.String()),
  },
  { description: "Datadog's MetricsQueryResponse" },
);

export async function queryRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v1/query',
    {
      preHandler: [ctx.auth.management, requireAction('metrics:query', 'querying metrics')],
      schema: {
        tags: ['Intake and metrics'],
        summary: 'Query timeseries points (Datadog v1 metric query)',
        querystring: queryString,
        response: { 200: queryResponse, ...errorResponses([400, 403, 429], { 400: 'A parameter is missing or invalid, "to" is before "from", or the range holds too many points' }) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { from, to, query } = request.query;
      if (to < from) throw rekeyError('INVALID_QUERY', { detail: '"to" is before "from"' });
      // A distribution (sketches) is answered from its sketches: p50…p99, avg, sum, min, max, count.
      const sketchSeries = await answerSketchQuery(intake.sketches, orgId, query, from, to);
      if (sketchSeries !== null) {
        return { status: 'ok', res_type: 'time_series', series: sketchSeries, from_date: from * 1000, to_date: to * 1000, query, message: '', group_by: parseSketchQuery(query)!.groupBy };
      }
      const parsed = parseMetricQuery(query);
      const points = await intake.queryPoints({ orgId, metric: parsed.metric, from, to });
      return {
        status: 'ok',
        res_type: 'time_series',
        series: evaluateMetricQuery(parsed, points),
        from_date: from * 1000,
        to_date: to * 1000,
        query,
        message: '',
        group_by: parsed.groupBy,
      };
    },
  );
}
