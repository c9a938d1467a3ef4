import type { Kysely } from 'kysely';
import { encodeChunk, normalisePoints, type ChunkSeries } from '../../points/point-chunk.js';
import type { Migration } from './migration.js';

/**
 * Points move from one row each (`metric_points`) to one row per metric per write batch
 * (`metric_chunks`; src/points/point-chunk.ts says why and gives the format). Existing points
 * are carried over, one chunk per (org, metric, day), then the old table is dropped.
 *
 *   id             the database's own increasing integer (SQLite rowid, PostgreSQL bigserial):
 *                  orders chunks by write, so the newest value wins per (host, tags, ts); an
 *                  integer key is one cheap B-tree, where a UUID would add an index per row
 *   ts_min/ts_max  the chunk's time range (epoch seconds), for range queries and retention
 */
export const pointChunksMigration: Migration = {
  name: '003-point-chunks',
  async up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
    await db.schema
      .createTable('metric_chunks')
      .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigserial', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('ts_min', 'bigint', (c) => c.notNull())
      .addColumn('ts_max', 'bigint', (c) => c.notNull())
      .addColumn('n_points', 'integer', (c) => c.notNull())
      .addColumn('points', dialect === 'sqlite' ? 'blob' : 'bytea', (c) => c.notNull())
      .execute();
    // One metric over a time range: org, metric, then chunks ending at or after `from`.
    await db.schema.createIndex('metric_chunks_query').on('metric_chunks').columns(['org_id', 'metric', 'ts_max']).execute();
    // Retention: chunks that start before the cutoff.
    await db.schema.createIndex('metric_chunks_ts_min').on('metric_chunks').column('ts_min').execute();

    // Carry the old rows over, one metric at a time.
    type Row = { org_id: string; metric: string; host: string; tags: string; ts: unknown; value: unknown; type: string; interval: unknown };
    const rows = (await db
      .selectFrom('metric_points')
      .select(['org_id', 'metric', 'host', 'tags', 'ts', 'value', 'type', 'interval'])
      .orderBy('org_id')
      .orderBy('metric')
      .execute()) as Row[];
    // One chunk per (org, metric, UTC day): a query reads the days it covers, not a metric's whole history.
    const chunks = new Map<string, Map<string, Row[]>>();
    for (const row of rows) {
      const chunkKey = `${row.org_id}\u0000${row.metric}\u0000${Math.floor(Number(row.ts) / 86_400)}`;
      let series = chunks.get(chunkKey);
      if (series === undefined) chunks.set(chunkKey, (series = new Map()));
      const seriesKey = `${row.host}\u0000${row.tags}`;
      const list = series.get(seriesKey);
      if (list === undefined) series.set(seriesKey, [row]);
      else list.push(row);
    }
    for (const series of chunks.values()) {
      const chunk: ChunkSeries[] = [...series.values()].map((list) => ({
        host: list[0]!.host,
        tags: JSON.parse(list[0]!.tags) as string[],
        type: list[0]!.type as ChunkSeries['type'],
        interval: list[0]!.interval === null ? null : Number(list[0]!.interval),
        points: normalisePoints(list.map((r) => [Number(r.ts), Number(r.value)] as const)),
      }));
      let tsMin = Infinity;
      let tsMax = -Infinity;
      let count = 0;
      for (const { points } of chunk) {
        tsMin = Math.min(tsMin, points[0]![0]);
        tsMax = Math.max(tsMax, points[points.length - 1]![0]);
        count += points.length;
      }
      const first = series.values().next().value![0]!;
      await db
        .insertInto('metric_chunks')
        .values({ org_id: first.org_id, metric: first.metric, ts_min: tsMin, ts_max: tsMax, n_points: count, points: encodeChunk(chunk) })
        .execute();
    }
    await db.schema.dropTable('metric_points').execute();
  },
};
