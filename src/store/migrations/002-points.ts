import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * The intake's tables (src/points): metric points, de-duplicated by their primary key
 * (org, metric, timestamp, host, tags) so a payload sent twice is stored once; the hosts seen
 * (latest metadata per host); the latest status of each check run.
 * Timestamps of points are epoch SECONDS (Datadog's unit); host times are epoch milliseconds
 * like every other table.
 */
export const pointsMigration: Migration = {
  name: '002-points',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('metric_points')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      // JSON array of the sorted, de-duplicated tags: one canonical form per tag set.
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('interval', 'integer')
      // The de-duplication key, ordered so it also serves queries (one metric over a time
      // range) without a second index: every index costs the intake on each inserted point.
      .addPrimaryKeyConstraint('metric_points_pk', ['org_id', 'metric', 'ts', 'host', 'tags'])
      .execute();
    // Retention deletes by time.
    await db.schema.createIndex('metric_points_ts').on('metric_points').column('ts').execute();

    await db.schema
      .createTable('intake_hosts')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addColumn('agent_version', 'text')
      .addColumn('metadata', 'text')
      .addPrimaryKeyConstraint('intake_hosts_pk', ['org_id', 'host'])
      .execute();

    await db.schema
      .createTable('check_runs')
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('check_name', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('check_runs_pk', ['org_id', 'check_name', 'host', 'tags'])
      .execute();
  },
};
