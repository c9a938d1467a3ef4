/**
 * The PointStore over Kysely, one implementation for SQLite and PostgreSQL.
 *
 * Points: one row per metric per batch (`metric_chunks`, format in point-chunk.ts). Writing is
 * a plain insert — no per-point index entry, no upsert — so a batch of a fleet's payloads
 * costs a few rows. De-duplication happens when reading: chunks are read in write order (their
 * increasing integer ids) and the last value per (host, tags, ts) wins, so a payload sent
 * twice counts once. Hosts and check runs keep their upserts (one row each).
 *
 * Writes go through the store's write path (`SharedTables.write`), which on SQLite is the
 * process's one-writer queue — except, on PostgreSQL, a batch of chunks alone (the intake's
 * series payloads): one INSERT, atomic by itself, with no transaction around it.
 */
import { sql } from 'kysely';
import { rekeyError } from '../errors.js';
import type { SharedTables } from '../store/store.js';
import { ChunkBuilder } from './chunk-builder.js';
import { decodeChunk, encodeChunk } from './point-chunk.js';
import { SeriesCollector } from './series-collector.js';
import {
  type HostQuery,
  type HostSighting,
  type PointBatch,
  type PointQuery,
  type PointSeries,
  type PointStore,
  type StoredHost,
  type StoredPoint,
} from './point-store.js';

/** Rows per INSERT: 6 parameters each, under SQLite's 32,766 and PostgreSQL's 65,535. */
const CHUNK = 1000;

/**
 * Keeps the last of each key (one statement may not upsert the same row twice, PostgreSQL),
 * ordered by key: concurrent batches (PointWriter's maxConcurrentBatches) then lock the rows
 * they upsert in the same order, so two of them wait for each other instead of deadlocking.
 */
function lastPerKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

export function canonicalTags(tags: readonly string[]): string {
  return JSON.stringify(tags);
}

export class KyselyPointStore implements PointStore {
  constructor(private readonly tables: SharedTables) {}

  async writeBatch(batch: PointBatch): Promise<void> {
    const builder = new ChunkBuilder();
    builder.addSeries(batch.series);
    for (const record of batch.records ?? []) builder.addRecord(record);
    const chunks = builder.rows();
    const hosts = mergeHosts([...batch.hosts, ...builder.hosts]);
    const checks = lastPerKey(
      [...batch.checkRuns, ...builder.checkRuns].map((c) => ({
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
    if (chunks.length === 0 && hosts.length === 0 && checks.length === 0) return;
    if (this.tables.dialect === 'postgres' && hosts.length === 0 && checks.length === 0 && chunks.length <= CHUNK) {
      // One statement is atomic on its own: without BEGIN and COMMIT around it, the batch
      // costs one round trip to PostgreSQL instead of three (series payloads, the hot path).
      await this.tables.db.insertInto('metric_chunks').values(chunks).execute();
      return;
    }
    await this.tables.write(async (trx) => {
      for (let i = 0; i < chunks.length; i += CHUNK) {
        await trx
          .insertInto('metric_chunks')
          .values(chunks.slice(i, i + CHUNK))
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
    const points: Array<StoredPoint & { firstWritten: number }> = [];
    for (const series of await this.querySeries(query)) {
      for (let i = 0; i < series.ts.length; i++) {
        const { type, interval } = series.kinds[series.kindIds[i]!]!;
        const [ts, value, firstWritten] = [series.ts[i]!, series.values[i]!, series.firstWritten[i]!];
        points.push({ orgId: query.orgId, metric: query.metric, host: series.host, tags: series.tags, ts, value, type, interval, firstWritten });
      }
    }
    // By timestamp, then in the order first written.
    points.sort((a, b) => a.ts - b.ts || a.firstWritten - b.firstWritten);
    const out = points.map(({ firstWritten: _, ...point }): StoredPoint => point);
    return query.limit === undefined ? out : out.slice(0, query.limit);
  }

  /**
   * Reads the chunks overlapping [from, to] once, in write order, and collects their points per
   * series (series-collector.ts).
   *
   * The range is bounded on both sides in the index (org_id, metric, ts_max, ts_min, n_points;
   * migration 010): a chunk overlaps when ts_max >= from and ts_min <= to, and since no chunk
   * of the metric spans more than its widest (one lookup in the span index), ts_max <= to +
   * widest. With only `ts_max >= from`, a 1-day window a week back walked every later chunk of
   * the metric and read each row to test ts_min. The first query is answered from the index
   * alone (ids and point counts: the size guard, before any points are read); the points are
   * then read by id, in id order — write order, so the last write wins without an ORDER BY
   * that would sort the blobs.
   */
  async querySeries(query: Omit<PointQuery, 'limit'>): Promise<PointSeries[]> {
    const metric = this.tables.db.selectFrom('metric_chunks').where('org_id', '=', query.orgId).where('metric', '=', query.metric);
    const widest = (await metric
      .select(sql<number | string>`ts_max - ts_min`.as('span'))
      .orderBy(sql`ts_max - ts_min`, 'desc')
      .limit(1)
      .executeTakeFirst()) as { span: number | string } | undefined;
    if (widest === undefined) return [];
    const overlapping = (await metric
      .select(['id', 'n_points'])
      .where('ts_max', '>=', query.from)
      .where('ts_max', '<=', query.to + Number(widest.span))
      .where('ts_min', '<=', query.to)
      .execute()) as Array<{ id: number | string; n_points: number | string }>;
    let stored = 0;
    for (const chunk of overlapping) stored += Number(chunk.n_points);
    if (query.maxScannedPoints !== undefined && stored > query.maxScannedPoints) {
      throw rekeyError('INVALID_QUERY', {
        detail: `Answering means reading ${stored} stored points of ${query.metric}, more than the ${query.maxScannedPoints} one query may read; narrow "from" and "to"`,
      });
    }
    // PostgreSQL's bigserial ids arrive as strings: sort them as numbers.
    const ids = overlapping.map((chunk) => chunk.id).sort((a, b) => Number(a) - Number(b));
    const collector = new SeriesCollector(query.from, query.to);
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await this.tables.db
        .selectFrom('metric_chunks')
        .select('points')
        .where('id', 'in', ids.slice(i, i + CHUNK))
        .orderBy('id')
        .execute();
      for (const row of rows as Array<{ points: Uint8Array }>) collector.add(row.points);
    }
    return collector.result();
  }

  async listHosts(query: HostQuery): Promise<{ hosts: StoredHost[]; totalMatching: number }> {
    const base = this.tables.db
      .selectFrom('intake_hosts')
      .where('org_id', '=', query.orgId)
      .$if(query.filter !== undefined && query.filter !== '', (qb) =>
        // instr/strpos differ between the databases; `like … escape` is portable.
        qb.where(sql<boolean>`host like ${`%${query.filter!.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`),
      )
      .$if(query.host !== undefined, (qb) => qb.where('host', '=', query.host!))
      .$if(query.seenSince !== undefined, (qb) => qb.where('last_seen', '>=', query.seenSince!.getTime()));
    const sort = query.sort ?? { field: 'name', direction: 'asc' };
    const counted = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const rows = await base
      .selectAll()
      .$if(sort.field === 'last_reported_time', (qb) => qb.orderBy('last_seen', sort.direction))
      .orderBy('host', sort.field === 'name' ? sort.direction : 'asc')
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

  async listMetrics(orgId: string, since: number): Promise<string[]> {
    // metric_chunks_range (org_id, metric, ts_max, …; migration 010) answers this from the index.
    const rows = await this.tables.db
      .selectFrom('metric_chunks')
      .select('metric')
      .distinct()
      .where('org_id', '=', orgId)
      .where('ts_max', '>=', since)
      .orderBy('metric')
      .execute();
    return rows.map((row: { metric: string }) => row.metric);
  }

  async deleteOlderThan(cutoffSeconds: number): Promise<number> {
    return this.tables.write(async (trx) => {
      // Whole chunks before the cutoff go; a chunk that straddles it is rewritten without its old points.
      const old = await trx.selectFrom('metric_chunks').select(['id', 'ts_max', 'n_points', 'points']).where('ts_min', '<', cutoffSeconds).execute();
      let deleted = 0;
      const whole: Array<string | number> = [];
      for (const row of old as Array<Record<string, unknown>>) {
        if (Number(row.ts_max) < cutoffSeconds) {
          whole.push(row.id as string | number);
          deleted += Number(row.n_points);
          continue;
        }
        const kept = decodeChunk(row.points as Uint8Array)
          .map((series) => ({ ...series, points: series.points.filter(([ts]) => ts >= cutoffSeconds) }))
          .filter((series) => series.points.length > 0);
        let keptPoints = 0;
        let tsMin = Infinity;
        for (const series of kept) {
          keptPoints += series.points.length;
          for (const [ts] of series.points) if (ts < tsMin) tsMin = ts;
        }
        deleted += Number(row.n_points) - keptPoints;
        await trx
          .updateTable('metric_chunks')
          .set({ ts_min: tsMin, n_points: keptPoints, points: encodeChunk(kept) })
          .where('id', '=', row.id as string | number)
          .execute();
      }
      for (let i = 0; i < whole.length; i += CHUNK) {
        await trx
          .deleteFrom('metric_chunks')
          .where('id', 'in', whole.slice(i, i + CHUNK))
          .execute();
      }
      await trx.deleteFrom('check_runs').where('ts', '<', cutoffSeconds).execute();
      return deleted;
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
  // By key, for the same lock order in concurrent batches (see lastPerKey).
  return [...merged.keys()]
    .sort()
    .map((key) => merged.get(key)!)
    .map((s) => ({
      org_id: s.orgId,
      host: s.host,
      first_seen: s.firstSeen,
      last_seen: s.lastSeen,
      agent_version: s.agentVersion,
      metadata: s.metadata,
    }));
}
