/**
 * `GET /api/v1/query`: a metric query over what the intake stored → Datadog's
 * MetricsQueryResponse (docs/product.md §3). The whole query language of
 * src/points/metric-query.ts: comma-separated queries, arithmetic, `.as_count()`,
 * `.as_rate()`, `.rollup()`, `.fill()`. Management auth and `metrics:query`
 * (src/access/policy.ts); every point the caller was acknowledged is read back.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { evaluateQueries, groupByOf, metricQueriesOf, parseQueries, renderExpr, seriesSource } from '../../points/metric-query.js';
import type { PointSeries } from '../../points/point-store.js';
import { answerSketchQuery, type SketchQuerySeries } from '../../points/sketch-query.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';

/** Seconds since the epoch, as Datadog's v1 routes take them (up to 12 digits). */
export const epochSecondsT = (description: string) => Type.Integer({ minimum: 0, maximum: 999_999_999_999, description });

const queryString = Type.Object({
  from: epochSecondsT('Start of the range, seconds since the epoch (inclusive)'),
  to: epochSecondsT('End of the range, seconds since the epoch (inclusive)'),
  query: Type.String({
    minLength: 1,
    description: 'Metric queries, comma-separated, e.g. sum:requests{env:prod,!role:db} by {host}.as_count().rollup(sum, 60) / 60, avg:system.load.1{*}',
  }),
});

const queryResponse = Type.Object(
  {
    status: Type.String({ description: 'Always ok' }),
    res_type: Type.String({ description: 'Always time_series' }),
    series: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description: "Datadog's MetricsQueryMetadata: metric, display_name, expression, scope, tag_set, pointlist, interval, aggr, query_index, unit, …",
    }),
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
        response: {
          200: queryResponse,
          ...errorResponses([400, 403, 429], {
            400: 'A parameter is missing or invalid, the query cannot be parsed, "to" is before "from", or the range holds too many points',
          }),
        },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { from, to, query } = request.query;
      if (to < from) throw rekeyError('INVALID_QUERY', { detail: '"to" is before "from"' });
      const parsed = parseQueries(query);
      // Each query of a distribution (sketches) is answered from its sketches: p50…p99, avg,
      // sum, min, max, count; the others from stored points.
      const fromSketches = new Map<number, SketchQuerySeries[]>();
      for (const [index, expr] of parsed.entries()) {
        if (expr.kind !== 'metric') continue;
        const answered = await answerSketchQuery(intake.sketches, orgId, renderExpr(expr), from, to);
        if (answered !== null) fromSketches.set(index, answered);
      }
      const fromPoints = parsed.map((expr, index) => ({ expr, index })).filter(({ index }) => !fromSketches.has(index));
      // Each metric read once, however often the queries name it. (A percentile or count of a
      // metric without sketches is refused by the series source with INVALID_QUERY.)
      const points = new Map<string, PointSeries[]>();
      for (const metric of new Set(fromPoints.flatMap(({ expr }) => metricQueriesOf(expr)).map((q) => q.metric))) {
        points.set(metric, await intake.querySeries({ orgId, metric, from, to }));
      }
      // The unit each metric's series declared, as Datadog gives it: [unit, per_unit].
      const units = new Map<string, Awaited<ReturnType<typeof intake.units.queryUnit>>>();
      for (const metric of points.keys()) units.set(metric, await intake.units.queryUnit(orgId, metric));
      const pointSeries = evaluateQueries(
        fromPoints.map(({ expr }) => expr),
        seriesSource((q) => points.get(q.metric) ?? [], { from, to }),
      ).map((series) => {
        const unit = units.get(series.metric) ?? null;
        // query_index: the query's place among all the comma-separated queries.
        return { ...series, query_index: fromPoints[series.query_index]!.index, ...(unit === null ? {} : { unit }) };
      });
      const sketchSeries = [...fromSketches.entries()].flatMap(([index, series]) => series.map((s) => ({ ...s, query_index: index })));
      return {
        status: 'ok',
        res_type: 'time_series',
        series: [...pointSeries, ...sketchSeries].sort((a, b) => a.query_index - b.query_index),
        from_date: from * 1000,
        to_date: to * 1000,
        query,
        message: '',
        group_by: groupByOf(parsed),
      };
    },
  );
}
