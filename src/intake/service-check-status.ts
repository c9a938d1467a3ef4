/**
 * The latest status of each service check per host (table `check_runs`, kept by the intake:
 * one row per org, check, host and tag set, the latest run wins), for `GET /api/v1/hosts` and
 * the UI's hosts page. Each entry uses `/api/v1/check_run`'s field names (check, status,
 * timestamp, message, tags), as a client sent it.
 *
 * @example
 *   const byHost = await serviceChecksByHost(store.sharedTables(), orgId, ['web-1', 'web-2']);
 *   byHost.get('web-1'); // [{ check: 'datadog.agent.up', status: 0, timestamp: 1700000000, message: '', tags: [] }]
 */
import type { SharedTables } from '../store/store.js';

export interface ServiceCheckStatus {
  check: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  status: number;
  /** Epoch seconds of the latest run. */
  timestamp: number;
  message: string;
  tags: string[];
}

/** Status names as Datadog's UI shows them. */
export const SERVICE_CHECK_STATUS_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** Hosts per query: a page of the hosts list is at most 1,000. */
const HOSTS_PER_QUERY = 500;

export async function serviceChecksByHost(tables: SharedTables, orgId: string, hosts: readonly string[]): Promise<Map<string, ServiceCheckStatus[]>> {
  const byHost = new Map<string, ServiceCheckStatus[]>(hosts.map((host) => [host, []]));
  for (let i = 0; i < hosts.length; i += HOSTS_PER_QUERY) {
    const rows = await tables.db
      .selectFrom('check_runs')
      .select(['host', 'check_name', 'status', 'ts', 'message', 'tags'])
      .where('org_id', '=', orgId)
      .where('host', 'in', hosts.slice(i, i + HOSTS_PER_QUERY))
      .orderBy('host')
      .orderBy('check_name')
      .orderBy('tags')
      .execute();
    for (const row of rows as Array<Record<string, unknown>>) {
      byHost.get(row.host as string)?.push({
        check: row.check_name as string,
        status: Number(row.status),
        timestamp: Number(row.ts),
        message: row.message as string,
        tags: JSON.parse(row.tags as string) as string[],
      });
    }
  }
  return byHost;
}
