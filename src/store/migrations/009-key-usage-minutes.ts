import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Per-key usage and quotas (issue 19, Build 5). Frozen: this migration carries its own table
 * definitions and never imports the live schema, so it creates the same tables whatever the
 * code becomes.
 *
 *  - `key_usage_minutes`: one row per API key per minute it was used — intake requests, body
 *    bytes (as sent, still compressed), points of series payloads, distinct hosts named. The
 *    intake counts in memory and writes a minute once it is over (src/intake/usage-minutes.ts);
 *    several nodes sum their requests, bytes and points into the same row. `minute` is the
 *    minute's start in epoch ms, like every time in rekey's tables; kept as long as points.
 *  - `api_key_limits`: the optional per-key limits (requests per second, points per minute,
 *    bytes per day); a key without a row, or a null column, is not limited beyond the node's
 *    defaults. Set by an admin (API, `rekey key-limits set`), read by every intake node.
 */
export const keyUsageMinutesMigration: Migration = {
  name: '009-key-usage-minutes',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('key_usage_minutes')
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('minute', 'bigint', (c) => c.notNull())
      .addColumn('requests', 'bigint', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('points', 'bigint', (c) => c.notNull())
      .addColumn('hosts', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('key_usage_minutes_pk', ['key_id', 'minute'])
      .execute();
    // Retention deletes by time.
    await db.schema.createIndex('key_usage_minutes_minute').on('key_usage_minutes').column('minute').execute();

    await db.schema
      .createTable('api_key_limits')
      .addColumn('key_id', 'text', (c) => c.primaryKey().references('api_keys.id'))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('requests_per_second', 'integer')
      .addColumn('points_per_minute', 'bigint')
      .addColumn('bytes_per_day', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
  },
};
