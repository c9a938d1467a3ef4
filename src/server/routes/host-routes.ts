/**
 * `GET /api/v1/hosts`: the hosts the intake has seen → Datadog's HostListResponse
 * (docs/product.md §3). Management auth and `hosts:read` (src/access/policy.ts); every
 * accepted payload's host is in the list.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { serviceChecksByHost } from '../../intake/service-check-status.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';
import { epochSecondsT } from './query-routes.js';

/** Datadog shows a host "up" while it reported in the last ~15 minutes. */
const UP_WITHIN_MS = 15 * 60_000;

const hostsQuery = Type.Object({
  filter: Type.Optional(Type.String({ description: 'Only hosts whose name contains this' })),
  from: Type.Optional(epochSecondsT('Only hosts seen at or after this time, seconds since the epoch')),
  count: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Hosts per page' }),
  start: Type.Integer({ minimum: 0, default: 0, description: 'Hosts to skip' }),
});

const hostSchema = Type.Object({
  name: Type.String(),
  host_name: Type.String(),
  id: Type.Integer({ description: 'Its position in this listing (rekey has no host ids)' }),
  aliases: Type.Array(Type.String()),
  apps: Type.Array(Type.String()),
  sources: Type.Array(Type.String()),
  up: Type.Boolean({ description: 'Reported in the last 15 minutes' }),
  is_muted: Type.Boolean(),
  last_reported_time: Type.Integer({ description: 'Seconds since the epoch' }),
  meta: Type.Object({ agent_version: Type.Optional(Type.String()) }),
  tags_by_source: Type.Object({}),
  service_checks: Type.Array(
    Type.Object({
      check: Type.String(),
      status: Type.Integer({ description: '0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' }),
      timestamp: Type.Integer({ description: 'Seconds since the epoch' }),
      message: Type.String(),
      tags: Type.Array(Type.String()),
    }),
    { description: 'The latest run of each service check the host reported, in /api/v1/check_run field names' },
  ),
});

const hostsResponse = Type.Object(
  { host_list: Type.Array(hostSchema), total_matching: Type.Integer(), total_returned: Type.Integer() },
  { description: "Datadog's HostListResponse" },
);

export async function hostRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v1/hosts',
    {
      preHandler: [ctx.auth.management, requireAction('hosts:read', 'listing hosts')],
      schema: {
        tags: ['Intake and metrics'],
        summary: 'List the hosts that sent data',
        querystring: hostsQuery,
        response: { 200: hostsResponse, ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { filter, from, count, start } = request.query;
      const { hosts, totalMatching } = await intake.listHosts({
        orgId,
        ...(filter === undefined ? {} : { filter }),
        ...(from === undefined ? {} : { seenSince: new Date(from * 1000) }),
        offset: start,
        count,
      });
      const upSince = intake.now() - UP_WITHIN_MS;
      const checks = await serviceChecksByHost(intake.store.sharedTables(), orgId, hosts.map((host) => host.host));
      return {
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
          service_checks: checks.get(host.host) ?? [],
        })),
        total_matching: totalMatching,
        total_returned: hosts.length,
      };
    },
  );
}
