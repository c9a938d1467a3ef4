import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Per-key bytes per UTC day, kept beside the usage minutes (issue 19; src/intake/key-limits.ts).
 * Frozen: its own table definition and plain SQL on `key_usage_minutes` as migration 009 made it.
 *
 * Every intake node reads, every 2 s, the day's bytes and the minute's points of every key
 * limited in points or bytes (`store.keyUsageTotals`). Summing a day of minutes made that read
 * grow with the day: with 2,000 limited keys and a full day of minutes (2.88 million rows) it
 * took ~1.5 s on PostgreSQL, a bitmap scan of every row of the day through the `minute` index
 * (a hostile try measured ~0.55–0.6 s per 500-key batch). `key_usage_days` holds one row per key
 * and day, added to in the same transaction as the minutes (`recordKeyUsageMinutes`), so the
 * read is two primary-key lookups per key. Filled here from the minutes already written.
 */
export const keyUsageDaysMigration: Migration = {
  name: '011-key-usage-days',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('key_usage_days')
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('day', 'bigint', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('key_usage_days_pk', ['key_id', 'day'])
      .execute();
    await sql`
      insert into key_usage_days (key_id, day, bytes)
      select key_id, minute - minute % 86400000, sum(bytes) from key_usage_minutes group by key_id, minute - minute % 86400000
    `.execute(db);
  },
};
