/**
 * `GET /api/v1/metrics` (Datadog's "active metrics": the metrics with a point since `from`) and
 * `GET /api/v1/search` (Datadog's search of hosts and metrics: `q=hosts:TERM`, `q=metrics:TERM`,
 * or a bare term for both). Management auth; metrics need `metrics:query`, hosts `hosts:read`
 * (src/access/policy.ts).
 */
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, authorize, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { integerParam } from './integer-param.js';

/** How many hosts one search answers at most. */
const SEARCH_HOSTS = 1000;
/** How far back a search looks for metrics: the points rekey keeps are at most this old anyway. */
const SEARCH_METRICS_SINCE_S = 365 * 24 * 3600;

export async function metricListRoutes(app: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  app.get('/api/v1/metrics', { preHandler: [ctx.auth.management, requireAction('metrics:query', 'listing active metrics')] }, async (request, reply) => {
    const { orgId } = authOf(request);
    const query = request.query as Record<string, unknown>;
    if (query.from === undefined) throw rekeyError('INVALID_QUERY', { detail: 'The "from" parameter (epoch seconds) is required' });
    const from = integerParam(query.from, 'from');
    // `host` and `tag_filter` narrow Datadog's answer; rekey does not narrow by them (docs/compatibility.md).
    return reply.send({ metrics: await intake.listMetrics(orgId, from), from: String(from) });
  });

  app.get('/api/v1/search', { preHandler: [ctx.auth.management] }, async (request, reply) => {
    const auth = authOf(request);
    const q = (request.query as Record<string, unknown>).q;
    if (typeof q !== 'string') throw rekeyError('INVALID_QUERY', { detail: 'The "q" parameter is required: hosts:TERM, metrics:TERM or TERM' });
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
    return reply.send({ results });
  });
}
