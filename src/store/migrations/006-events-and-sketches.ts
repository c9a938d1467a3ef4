import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Issue 17: what DogStatsD clients send beyond points, kept as Datadog keeps it.
 *
 *   events           Datadog events (`POST /api/v1/events`, the Agent's `/intake/` events
 *                    payload, DogStatsD `_e{…}` through rekey-agent), read back by
 *                    `GET /api/v1/events`. `id` is the database's own increasing integer
 *                    (SQLite rowid, PostgreSQL bigserial): Datadog's event ids are int64, and
 *                    the official clients read them as numbers. `ts` is `date_happened`
 *                    (epoch seconds), `tags` a JSON array (sorted, de-duplicated).
 *   metric_sketches  distributions as DDSketches (src/points/sketch-store.ts), one per series
 *                    (org, metric, host, tags) and 10 s bucket `ts` (epoch seconds): the
 *                    primary key, so a payload sent twice stores each sketch once (the later
 *                    wins, like points). `sketch` is the DDSketch protobuf of
 *                    @datadog/sketches-js; `count`, `sum`, `min`, `max` are kept beside it
 *                    exact, as the Agent sends them.
 */
export const eventsAndSketchesMigration: Migration = {
  name: '006-events-and-sketches',
  async up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
    await db.schema
      .createTable('events')
      .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigserial', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('priority', 'text', (c) => c.notNull())
      .addColumn('alert_type', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('aggregation_key', 'text', (c) => c.notNull())
      .addColumn('source_type_name', 'text', (c) => c.notNull())
      .addColumn('device_name', 'text', (c) => c.notNull())
      .execute();
    // The list reads one org's events over a time range, newest first.
    await db.schema.createIndex('events_org_ts').on('events').columns(['org_id', 'ts']).execute();
    // Retention deletes by time.
    await db.schema.createIndex('events_ts').on('events').column('ts').execute();

    await db.schema
      .createTable('metric_sketches')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('count', 'double precision', (c) => c.notNull())
      .addColumn('sum', 'double precision', (c) => c.notNull())
      .addColumn('min', 'double precision', (c) => c.notNull())
      .addColumn('max', 'double precision', (c) => c.notNull())
      .addColumn('sketch', dialect === 'sqlite' ? 'blob' : 'bytea', (c) => c.notNull())
      .addPrimaryKeyConstraint('metric_sketches_pk', ['org_id', 'metric', 'ts', 'host', 'tags'])
      .execute();
    await db.schema.createIndex('metric_sketches_ts').on('metric_sketches').column('ts').execute();
  },
};
