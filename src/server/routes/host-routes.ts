/**
 * `GET /api/v1/hosts` and `GET /api/v1/hosts/totals`: the hosts the intake has seen →
 * Datadog's HostListResponse and HostTotals (docs/product.md §3). Management auth and
 * `hosts:read` (src/access/policy.ts); every accepted payload's host is in the list.
 *
 * As Datadog: `filter` matches part of a host name, `filter=host:NAME` exactly that host;
 * `sort_field` (`name`, `last_reported_time`) and `sort_dir` (`asc`, `desc`); `meta` holds the
 * Agent's system facts from its latest `/intake/` metadata; `sources` is `agent` for a host an
 * agent reports (its metadata names a version) and `api` for one only named in API payloads.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { serviceChecksByHost } from '../../intake/service-check-status.js';
import type { HostQuery, StoredHost } from '../../points/point-store.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';
import { epochSecondsT } from './query-routes.js';

/** Datadog shows a host "up" while it reported in the last ~15 minutes. */
const UP_WITHIN_MS = 15 * 60_000;
/** `/hosts/totals` counts hosts active in the last 2 hours unless `from` says otherwise, as Datadog. */
const ACTIVE_WITHIN_MS = 2 * 60 * 60_000;
const SORT_FIELDS = ['name', 'last_reported_time'] as const;

/** The `systemStats` facts of Datadog's HostMeta, with the type its model declares. */
const SYSTEM_STATS: Record<string, 'number' | 'string' | 'array'> = {
  cpuCores: 'number',
  machine: 'string',
  platform: 'string',
  processor: 'string',
  pythonV: 'string',
  macV: 'array',
  nixV: 'array',
  winV: 'array',
  fbsdV: 'array',
};

function hasType(value: unknown, type: 'number' | 'string' | 'array'): boolean {
  return type === 'array' ? Array.isArray(value) : typeof value === type;
}

/** Datadog's `meta` of a host from its stored `/intake/` document (keys already removed at intake). */
export function hostMeta(host: StoredHost): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (host.agentVersion !== null) meta.agent_version = host.agentVersion;
  if (host.metadata === null) return meta;
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(host.metadata) as Record<string, unknown>;
  } catch {
    return meta;
  }
  const stats = (typeof document.systemStats === 'object' && document.systemStats !== null ? document.systemStats : {}) as Record<string, unknown>;
  for (const [field, type] of Object.entries(SYSTEM_STATS)) if (hasType(stats[field], type)) meta[field] = stats[field];
  const agentMeta = (typeof document.meta === 'object' && document.meta !== null ? document.meta : {}) as Record<string, unknown>;
  for (const field of ['socket-hostname', 'socket-fqdn']) if (typeof agentMeta[field] === 'string') meta[field] = agentMeta[field];
  if (typeof document.gohai === 'string') meta.gohai = document.gohai;
  return meta;
}

function filterOf(raw: string | undefined): Pick<HostQuery, 'filter' | 'host'> {
  if (raw === undefined || raw === '') return {};
  return raw.startsWith('host:') ? { host: raw.slice('host:'.length) } : { filter: raw };
}

function sortOf(field: (typeof SORT_FIELDS)[number] | undefined, dir: 'asc' | 'desc' | undefined): HostQuery['sort'] {
  return { field: field ?? 'name', direction: dir ?? 'asc' };
}

const hostsQuery = Type.Object({
  filter: Type.Optional(Type.String({ description: 'Only hosts whose name contains this; host:NAME for exactly that host' })),
  sort_field: Type.Optional(
    Type.Union(
      SORT_FIELDS.map((field) => Type.Literal(field)),
      { description: 'name (default) or last_reported_time' },
    ),
  ),
  sort_dir: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'asc (default) or desc' })),
  from: Type.Optional(epochSecondsT('Only hosts seen at or after this time, seconds since the epoch')),
  count: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Hosts per page' }),
  start: Type.Integer({ minimum: 0, default: 0, description: 'Hosts to skip' }),
});

const hostSchema = Type.Object({
  name: Type.String(),
  host_name: Type.String(),
  id: Type.Integer({ description: 'Its position in this listing (rekey has no host ids)' }),
  aliases: Type.Array(Type.String()),
  apps: Type.Array(Type.String(), { description: '["agent"] for a host an agent reports, ["api"] for one only named in API payloads' }),
  sources: Type.Array(Type.String(), { description: 'As apps' }),
  up: Type.Boolean({ description: 'Reported in the last 15 minutes' }),
  is_muted: Type.Boolean(),
  last_reported_time: Type.Integer({ description: 'Seconds since the epoch' }),
  meta: Type.Object(
    { agent_version: Type.Optional(Type.String()) },
    {
      additionalProperties: true,
      description:
        "Datadog's HostMeta from the Agent's latest metadata: agent_version, cpuCores, machine, platform, processor, pythonV, socket-hostname, socket-fqdn, gohai, …V",
    },
  ),
  tags_by_source: Type.Object({}),
  service_checks: Type.Array(
    Type.Object({
      check: Type.String(),
      status: Type.Integer({ description: '0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' }),
      timestamp: Type.Integer({ description: 'Seconds since the epoch of the latest run' }),
      message: Type.String(),
      tags: Type.Array(Type.String()),
    }),
    { description: "The latest run of each service check the host reported, in /api/v1/check_run's field names (a rekey addition)" },
  ),
});

const hostsResponse = Type.Object(
  { host_list: Type.Array(hostSchema), total_matching: Type.Integer(), total_returned: Type.Integer() },
  { description: "Datadog's HostListResponse" },
);

const totalsQuery = Type.Object({ from: Type.Optional(epochSecondsT('Count hosts active since this time (default: the last 2 hours)')) });
const totalsResponse = Type.Object(
  { total_active: Type.Integer({ description: 'Hosts seen since from' }), total_up: Type.Integer({ description: 'Hosts seen in the last 15 minutes' }) },
  { description: "Datadog's HostTotals" },
);

export async function hostRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const preHandler = [ctx.auth.management, requireAction('hosts:read', 'listing hosts')];

  app.get(
    '/api/v1/hosts',
    {
      preHandler,
      schema: {
        tags: ['Intake and metrics'],
        summary: 'List the hosts that sent data',
        querystring: hostsQuery,
        response: { 200: hostsResponse, ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const { filter, sort_field, sort_dir, from, count, start } = request.query;
      const { hosts, totalMatching } = await intake.listHosts({
        orgId,
        ...filterOf(filter),
        sort: sortOf(sort_field, sort_dir),
        ...(from === undefined ? {} : { seenSince: new Date(from * 1000) }),
        offset: start,
        count,
      });
      const upSince = intake.now() - UP_WITHIN_MS;
      const checks = await serviceChecksByHost(
        intake.store.sharedTables(),
        orgId,
        hosts.map((host) => host.host),
      );
      return {
        host_list: hosts.map((host, index) => {
          const source = host.agentVersion === null ? 'api' : 'agent';
          return {
            name: host.host,
            host_name: host.host,
            id: start + index + 1,
            aliases: [host.host],
            apps: [source],
            sources: [source],
            up: host.lastSeen.getTime() >= upSince,
            is_muted: false,
            last_reported_time: Math.floor(host.lastSeen.getTime() / 1000),
            meta: hostMeta(host),
            tags_by_source: {},
            service_checks: checks.get(host.host) ?? [],
          };
        }),
        total_matching: totalMatching,
        total_returned: hosts.length,
      };
    },
  );

  app.get(
    '/api/v1/hosts/totals',
    {
      preHandler,
      schema: {
        tags: ['Intake and metrics'],
        summary: 'Count the active and up hosts',
        querystring: totalsQuery,
        response: { 200: totalsResponse, ...errorResponses([400, 403, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const now = intake.now();
      const activeSince = request.query.from === undefined ? now - ACTIVE_WITHIN_MS : request.query.from * 1000;
      const [active, up] = await Promise.all([
        intake.listHosts({ orgId, seenSince: new Date(activeSince), count: 1 }),
        intake.listHosts({ orgId, seenSince: new Date(now - UP_WITHIN_MS), count: 1 }),
      ]);
      return { total_active: active.totalMatching, total_up: up.totalMatching };
    },
  );
}
