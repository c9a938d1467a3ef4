/**
 * `GET /api/v1/metrics` (Datadog's "active metrics": the metrics with a point since `from`) and
 * `GET /api/v1/search` (Datadog's search of hosts and metrics: `q=hosts:TERM`, `q=metrics:TERM`,
 * or a bare term for both). Management auth; metrics need `metrics:query`, hosts `hosts:read`
 * (src/access/policy.ts).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, authorize, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';
import { epochSecondsT } from './query-routes.js';

/** How many hosts one search answers at most. */
const SEARCH_HOSTS = 1000;
/** How far back a search looks for metrics: the points rekey keeps are at most this old anyway. */
const SEARCH_METRICS_SINCE_S = 365 * 24 * 3600;

const activeQuery = Type.Object({
  from: epochSecondsT('Metrics with a point at or after this time, seconds since the epoch'),
  host: Type.Optional(Type.String({ description: 'Accepted; does not narrow the list (docs/compatibility.md)' })),
  tag_filter: Type.Optional(Type.String({ description: 'Accepted; does not narrow the list (docs/compatibility.md)' })),
});
const activeResponse = Type.Object({ metrics: Type.Array(Type.String()), from: Type.String() }, { description: "Datadog's MetricsListResponse" });
const searchQuery = Type.Object({ q: Type.String({ description: 'hosts:TERM, metrics:TERM, or TERM for both' }) });
const searchResponse = Type.Object(
  { results: Type.Object({ hosts: Type.Optional(Type.Array(Type.String())), metrics: Type.Optional(Type.Array(Type.String())) }) },
  { description: "Datadog's search results (MetricSearchResponse for metrics:)" },
);

export async function metricListRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['Intake and metrics'];
  app.get(
    '/api/v1/metrics',
    {
      preHandler: [ctx.auth.management, requireAction('metrics:query', 'listing active metrics')],
      schema: {
        tags,
        summary: 'List the metrics with points since from (active metrics)',
        querystring: activeQuery,
        response: { 200: activeResponse, ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { from } = request.query;
      return { metrics: await intake.listMetrics(orgId, from), from: String(from) };
    },
  );

  app.get(
    '/api/v1/search',
    {
      preHandler: [ctx.auth.management],
      schema: {
        tags,
        summary: 'Search hosts and metrics by name',
        querystring: searchQuery,
        response: { 200: searchResponse, ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const { q } = request.query;
      const [facet, term] = q.startsWith('hosts:') ? ['hosts', q.slice(6)] : q.startsWith('metrics:') ? ['metrics', q.slice(8)] : ['both', q];
      const results: { hosts?: string[]; metrics?: string[] } = {};
      if (facet !== 'metrics') {
        authorize(auth, 'hosts:read', 'searching hosts');
        const { hosts } = await intake.listHosts({ orgId: auth.orgId, ...(term === '' ? {} : { filter: term }), count: SEARCH_HOSTS });
        results.hosts = hosts.map((host) => host.host);
      }
      if (facet !== 'hosts') {
        authorize(auth, 'metrics:query', 'searching metrics');
        const since = Math.floor(intake.now() / 1000) - SEARCH_METRICS_SINCE_S;
        results.metrics = (await intake.listMetrics(auth.orgId, since)).filter((metric) => metric.includes(term));
      }
      return { results };
    },
  );
}
