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
import type { FastifyInstance } from 'fastify';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import type { HostQuery, StoredHost } from '../../points/point-store.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { integerParam } from './integer-param.js';

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

function filterOf(raw: unknown): Pick<HostQuery, 'filter' | 'host'> {
  if (typeof raw !== 'string' || raw === '') return {};
  return raw.startsWith('host:') ? { host: raw.slice('host:'.length) } : { filter: raw };
}

function sortOf(field: unknown, dir: unknown): HostQuery['sort'] {
  if (field !== undefined && !(SORT_FIELDS as readonly unknown[]).includes(field)) {
    throw rekeyError('INVALID_QUERY', { detail: `"sort_field" must be one of ${SORT_FIELDS.join(', ')}` });
  }
  if (dir !== undefined && dir !== 'asc' && dir !== 'desc') throw rekeyError('INVALID_QUERY', { detail: '"sort_dir" must be asc or desc' });
  return { field: (field as (typeof SORT_FIELDS)[number] | undefined) ?? 'name', direction: (dir as 'asc' | 'desc' | undefined) ?? 'asc' };
}

export async function hostRoutes(app: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const preHandler = [ctx.auth.management, requireAction('hosts:read', 'listing hosts')];

  app.get('/api/v1/hosts', { preHandler }, async (request, reply) => {
    const { orgId } = authOf(request);
    const query = request.query as Record<string, unknown>;
    const count = query.count === undefined ? 100 : integerParam(query.count, 'count');
    const start = query.start === undefined ? 0 : integerParam(query.start, 'start');
    if (count < 1 || count > 1000) throw rekeyError('INVALID_QUERY', { detail: '"count" must be between 1 and 1000' });
    if (start < 0) throw rekeyError('INVALID_QUERY', { detail: '"start" must not be negative' });
    const seenSince = query.from === undefined ? undefined : new Date(integerParam(query.from, 'from') * 1000);
    const { hosts, totalMatching } = await intake.listHosts({
      orgId,
      ...filterOf(query.filter),
      sort: sortOf(query.sort_field, query.sort_dir),
      ...(seenSince ? { seenSince } : {}),
      offset: start,
      count,
    });
    const upSince = intake.now() - UP_WITHIN_MS;
    return reply.send({
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
        };
      }),
      total_matching: totalMatching,
      total_returned: hosts.length,
    });
  });

  app.get('/api/v1/hosts/totals', { preHandler }, async (request, reply) => {
    const { orgId } = authOf(request);
    const query = request.query as Record<string, unknown>;
    const now = intake.now();
    const activeSince = query.from === undefined ? now - ACTIVE_WITHIN_MS : integerParam(query.from, 'from') * 1000;
    const [active, up] = await Promise.all([
      intake.listHosts({ orgId, seenSince: new Date(activeSince), count: 1 }),
      intake.listHosts({ orgId, seenSince: new Date(now - UP_WITHIN_MS), count: 1 }),
    ]);
    return reply.send({ total_active: active.totalMatching, total_up: up.totalMatching });
  });
}
