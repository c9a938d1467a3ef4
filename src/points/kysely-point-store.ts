/**
 * The PointStore over Kysely, one implementation for SQLite and PostgreSQL: both have
 * `INSERT … ON CONFLICT (…) DO UPDATE` with `excluded`, so de-duplication is one upsert.
 * Writes go through the store's write path (`SharedTables.write`), which on SQLite is the
 * process's one-writer queue.
 */
import { sql } from 'kysely';
import type { SharedTables } from '../store/store.js';
import type { CheckRunRecord, HostQuery, HostSighting, PointQuery, PointStore, StoredHost, StoredPoint } from './point-store.js';

/** Rows per INSERT: 8 parameters each, under SQLite's 32,766 and PostgreSQL's 65,535. */
const CHUNK = 1000;

/** Keeps the last of each key: one statement may not upsert the same row twice (PostgreSQL). */
function lastPerKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return [...byKey.values()];
}

export function canonicalTags(tags: readonly string[]): string {
  return JSON.stringify(tags);
}

export class KyselyPointStore implements PointStore {
  constructor(private readonly tables: SharedTables) {}

  async writeBatch(batch: { points: readonly StoredPoint[]; hosts: readonly HostSighting[]; checkRuns: readonly CheckRunRecord[] }): Promise<void> {
    const points = lastPerKey(
      batch.points.map((p) => ({
        org_id: p.orgId,
        metric: p.metric,
        host: p.host,
        tags: canonicalTags(p.tags),
        ts: p.ts,
        value: p.value,
        type: p.type,
        interval: p.interval,
      })),
      (r) => `${r.org_id}\u0000${r.metric}\u0000${r.host}\u0000${r.tags}\u0000${r.ts}`,
    );
    const hosts = mergeHosts(batch.hosts);
    const checks = lastPerKey(
      batch.checkRuns.map((c) => ({
        org_id: c.orgId,
        check_name: c.check,
        host: c.host,
        tags: canonicalTags(c.tags),
        status: c.status,
        message: c.message,
        ts: c.ts,
      })),
      (r) => `${r.org_id}\u0000${r.check_name}\u0000${r.host}\u0000${r.tags}`,
    );
    if (points.length === 0 && hosts.length === 0 && checks.length === 0) return;
    await this.tables.write(async (trx) => {
      for (let i = 0; i < points.length; i += CHUNK) {
        await trx
          .insertInto('metric_points')
          .values(points.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.columns(['org_id', 'metric', 'ts', 'host', 'tags']).doUpdateSet({
              value: sql`excluded.value`,
              type: sql`excluded.type`,
              interval: sql`excluded.interval`,
            }),
          )
          .execute();
      }
      for (let i = 0; i < hosts.length; i += CHUNK) {
        await trx
          .insertInto('intake_hosts')
          .values(hosts.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.columns(['org_id', 'host']).doUpdateSet({
              first_seen: sql`case when excluded.first_seen < intake_hosts.first_seen then excluded.first_seen else intake_hosts.first_seen end`,
              last_seen: sql`case when excluded.last_seen > intake_hosts.last_seen then excluded.last_seen else intake_hosts.last_seen end`,
              agent_version: sql`coalesce(excluded.agent_version, intake_hosts.agent_version)`,
              metadata: sql`coalesce(excluded.metadata, intake_hosts.metadata)`,
            }),
          )
          .execute();
      }
      for (let i = 0; i < checks.length; i += CHUNK) {
        await trx
          .insertInto('check_runs')
          .values(checks.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.columns(['org_id', 'check_name', 'host', 'tags']).doUpdateSet({
              status: sql`excluded.status`,
              message: sql`excluded.message`,
              ts: sql`excluded.ts`,
            }),
          )
          .execute();
      }
    });
  }

  async queryPoints(query: PointQuery): Promise<StoredPoint[]> {
    const rows = await this.tables.db
      .selectFrom('metric_points')
      .select(['org_id', 'metric', 'host', 'tags', 'ts', 'value', 'type', 'interval'])
      .where('org_id', '=', query.orgId)
      .where('metric', '=', query.metric)
      .where('ts', '>=', query.from)
      .where('ts', '<=', query.to)
      .orderBy('ts')
      .limit(query.limit ?? 1_000_000)
      .execute();
    return rows.map((row: Record<string, unknown>) => ({
      orgId: row.org_id as string,
      metric: row.metric as string,
      host: row.host as string,
      tags: JSON.parse(row.tags as string) as string[],
      ts: Number(row.ts),
      value: Number(row.value),
      type: row.type as StoredPoint['type'],
      interval: row.interval === null ? null : Number(row.interval),
    }));
  }

  async listHosts(query: HostQuery): Promise<{ hosts: StoredHost[]; totalMatching: number }> {
    const base = this.tables.db
      .selectFrom('intake_hosts')
      .where('org_id', '=', query.orgId)
      .$if(query.filter !== undefined && query.filter !== '', (qb) =>
        // instr/strpos differ between the databases; `like … escape` is portable.
        qb.where(sql<boolean>`host like ${`%${query.filter!.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`),
      )
      .$if(query.seenSince !== undefined, (qb) => qb.where('last_seen', '>=', query.seenSince!.getTime()));
    const counted = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const rows = await base
      .selectAll()
      .orderBy('host')
      .limit(query.count ?? 100)
      .offset(query.offset ?? 0)
      .execute();
    return {
      totalMatching: Number((counted as { n: unknown } | undefined)?.n ?? 0),
      hosts: rows.map((row: Record<string, unknown>) => ({
        orgId: row.org_id as string,
        host: row.host as string,
        firstSeen: new Date(Number(row.first_seen)),
        lastSeen: new Date(Number(row.last_seen)),
        agentVersion: (row.agent_version as string | null) ?? null,
        metadata: (row.metadata as string | null) ?? null,
      })),
    };
  }

  async deleteOlderThan(cutoffSeconds: number): Promise<number> {
    return this.tables.write(async (trx) => {
      const result = await trx.deleteFrom('metric_points').where('ts', '<', cutoffSeconds).executeTakeFirst();
      await trx.deleteFrom('check_runs').where('ts', '<', cutoffSeconds).execute();
      return Number(result.numDeletedRows);
    });
  }
}

function mergeHosts(sightings: readonly HostSighting[]) {
  const merged = new Map<string, HostSighting>();
  for (const s of sightings) {
    const key = `${s.orgId}\u0000${s.host}`;
    const seen = merged.get(key);
    merged.set(
      key,
      seen === undefined
        ? { ...s }
        : {
            ...seen,
            firstSeen: Math.min(seen.firstSeen, s.firstSeen),
            lastSeen: Math.max(seen.lastSeen, s.lastSeen),
            agentVersion: s.agentVersion ?? seen.agentVersion,
            metadata: s.metadata ?? seen.metadata,
          },
    );
  }
  return [...merged.values()].map((s) => ({
    org_id: s.orgId,
    host: s.host,
    first_seen: s.firstSeen,
    last_seen: s.lastSeen,
    agent_version: s.agentVersion,
    metadata: s.metadata,
  }));
}
