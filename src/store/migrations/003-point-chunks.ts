import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Points move from one row each (`metric_points`) to one row per metric per write batch
 * (`metric_chunks`; src/points/point-chunk.ts says why and gives the format). Existing points
 * are carried over, one chunk per (org, metric, day), then the old table is dropped.
 *
 * Frozen: this file carries its own copy of the chunk encoder (format version 1, as it was
 * when this migration was written), so a later change of src/points/point-chunk.ts can never
 * change what this migration writes. Readers of later formats must keep reading version 1.
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

    // Carry the old rows over: (org, metric) pairs in keyset order, and each pair's rows in
    // pages in primary-key order (ts first), so memory holds one page and one UTC day of one
    // metric, never the whole table. One chunk per (org, metric, UTC day): a query reads the
    // days it covers, not a metric's whole history.
    let pair: { org_id: string; metric: string } | undefined;
    for (;;) {
      let next = db.selectFrom('metric_points').select(['org_id', 'metric']).distinct().orderBy('org_id').orderBy('metric').limit(1);
      if (pair) next = next.where((eb) => eb.or([eb('org_id', '>', pair!.org_id), eb.and([eb('org_id', '=', pair!.org_id), eb('metric', '>', pair!.metric)])]));
      const found = (await next.executeTakeFirst()) as { org_id: string; metric: string } | undefined;
      if (!found) break;
      pair = found;
      await carryOverMetric(db, found.org_id, found.metric);
    }
    await db.schema.dropTable('metric_points').execute();
  },
};

/** Rows of one (org, metric) read per query. */
const PAGE_ROWS = 10_000;

type PointRow = { ts: unknown; host: string; tags: string; value: unknown; type: string; interval: unknown };

/** One metric's rows, page by page in primary-key order, written as one chunk per UTC day. */
async function carryOverMetric(db: Kysely<any>, orgId: string, metric: string): Promise<void> {
  let day: number | undefined;
  let series = new Map<string, PointRow[]>();
  const writeDay = async () => {
    if (series.size > 0) await insertChunk(db, orgId, metric, [...series.values()]);
    series = new Map();
  };
  let last: PointRow | undefined;
  for (;;) {
    let page = db
      .selectFrom('metric_points')
      .select(['ts', 'host', 'tags', 'value', 'type', 'interval'])
      .where('org_id', '=', orgId)
      .where('metric', '=', metric)
      .orderBy('ts')
      .orderBy('host')
      .orderBy('tags')
      .limit(PAGE_ROWS);
    if (last) {
      const { ts, host, tags } = last;
      page = page.where((eb) =>
        eb.or([
          eb('ts', '>', ts),
          eb.and([eb('ts', '=', ts), eb('host', '>', host)]),
          eb.and([eb('ts', '=', ts), eb('host', '=', host), eb('tags', '>', tags)]),
        ]),
      );
    }
    const rows = (await page.execute()) as PointRow[];
    for (const row of rows) {
      const rowDay = Math.floor(Number(row.ts) / 86_400);
      if (rowDay !== day) {
        await writeDay();
        day = rowDay;
      }
      const key = `${row.host}\u0000${row.tags}`;
      const list = series.get(key);
      if (list === undefined) series.set(key, [row]);
      else list.push(row);
    }
    if (rows.length < PAGE_ROWS) break;
    last = rows[rows.length - 1];
  }
  await writeDay();
}

/** One chunk of format version 1 from one day's rows of one metric (each series' rows in ts order, unique ts). */
async function insertChunk(db: Kysely<any>, orgId: string, metric: string, series: PointRow[][]): Promise<void> {
  let tsMin = Infinity;
  let tsMax = -Infinity;
  let count = 0;
  for (const rows of series) {
    tsMin = Math.min(tsMin, Number(rows[0]!.ts));
    tsMax = Math.max(tsMax, Number(rows[rows.length - 1]!.ts));
    count += rows.length;
  }
  await db
    .insertInto('metric_chunks')
    .values({ org_id: orgId, metric, ts_min: tsMin, ts_max: tsMax, n_points: count, points: encodeChunkV1(series, count) })
    .execute();
}

/**
 * Chunk format version 1, little-endian: u32 header length H; H bytes of UTF-8 JSON
 * `[[host, tags[], type, interval|null, pointCount], …]`; zero padding to a multiple of 8;
 * then f64 [ts, value] pairs, series after series in header order.
 */
function encodeChunkV1(series: PointRow[][], count: number): Buffer {
  const entries = series.map((rows) => {
    const first = rows[0]!;
    return [first.host, JSON.parse(first.tags) as string[], first.type, first.interval === null ? null : Number(first.interval), rows.length];
  });
  const header = Buffer.from(JSON.stringify(entries), 'utf8');
  const valuesAt = Math.ceil((4 + header.length) / 8) * 8;
  const out = Buffer.alloc(valuesAt + count * 16);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let offset = valuesAt;
  for (const rows of series) {
    for (const row of rows) {
      out.writeDoubleLE(Number(row.ts), offset);
      out.writeDoubleLE(Number(row.value), offset + 8);
      offset += 16;
    }
  }
  return out;
}
