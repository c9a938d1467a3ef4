import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Indexes for reading a metric's chunks over a time range with both ends bounded
 * (src/points/kysely-point-store.ts, `querySeries`). Frozen: plain SQL on the table as
 * migration 003 created it; no import of live code.
 *
 *  - `metric_chunks_range` (org_id, metric, ts_max, ts_min, n_points) replaces
 *    `metric_chunks_query` (org_id, metric, ts_max), its prefix: the chunks overlapping a range,
 *    their ids and point counts (the size guard) come from the index alone, without reading a row.
 *  - `metric_chunks_span` (org_id, metric, ts_max - ts_min): the metric's widest chunk in one
 *    index lookup, which bounds ts_max from above (a chunk ending after to + widest cannot
 *    start before to). Before, a query read every chunk ending after its start: a 1-day window
 *    a week back walked the whole week after it.
 * Both SQLite and PostgreSQL index the expression; a query must spell it `ts_max - ts_min`.
 */
export const pointChunkRangeIndexMigration: Migration = {
  name: '010-point-chunk-range-index',
  async up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
    // SQLite's index entries end with the rowid (`id`) already; PostgreSQL's must include it,
    // or reading the ids goes to the table (EXPLAIN: Index Scan, not Index Only Scan).
    const include = dialect === 'postgres' ? sql` include (id)` : sql``;
    await sql`create index metric_chunks_range on metric_chunks (org_id, metric, ts_max, ts_min, n_points)${include}`.execute(db);
    await sql`create index metric_chunks_span on metric_chunks (org_id, metric, (ts_max - ts_min))`.execute(db);
    await sql`drop index metric_chunks_query`.execute(db);
  },
};
