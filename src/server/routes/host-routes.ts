/**
 * `GET /api/v1/hosts`: the hosts the intake has seen → Datadog's HostListResponse
 * (docs/product.md §3). Management auth and `hosts:read` (src/access/policy.ts); every
 * accepted payload's host is in the list.
 */
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { integerParam } from './integer-param.js';

/** Datadog shows a host "up" while it reported in the last ~15 minutes. */
const UP_WITHIN_MS = 15 * 60_000;

export async function hostRoutes(app: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  app.get('/api/v1/hosts', { preHandler: [ctx.auth.management, requireAction('hosts:read', 'listing hosts')] }, async (request, reply) => {
    const { orgId } = authOf(request);
    const query = request.query as Record<string, unknown>;
    const count = query.count === undefined ? 100 : integerParam(query.count, 'count');
    const start = query.start === undefined ? 0 : integerParam(query.start, 'start');
    if (count < 1 || count > 1000) throw rekeyError('INVALID_QUERY', { detail: '"count" must be between 1 and 1000' });
    if (start < 0) throw rekeyError('INVALID_QUERY', { detail: '"start" must not be negative' });
    const seenSince = query.from === undefined ? undefined : new Date(integerParam(query.from, 'from') * 1000);
    const { hosts, totalMatching } = await intake.listHosts({
      orgId,
      ...(typeof query.filter === 'string' ? { filter: query.filter } : {}),
      ...(seenSince ? { seenSince } : {}),
      offset: start,
      count,
    });
    const upSince = intake.now() - UP_WITHIN_MS;
    return reply.send({
      host_list: hosts.map((host, index) => ({
        name: host.host,
        host_name: host.host,
        id: start + index + 1,
        aliases: [host.host],
        apps: ['agent'],
        sources: ['agent'],
        up: host.lastSeen.getTime() >= upSince,
        is_muted: false,
        last_reported_time: Math.floor(host.lastSeen.getTime() / 1000),
        meta: host.agentVersion === null ? {} : { agent_version: host.agentVersion },
        tags_by_source: {},
      })),
      total_matching: totalMatching,
      total_returned: hosts.length,
    });
  });
}
