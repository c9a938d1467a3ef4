/**
 * Migration 011 on both databases: the usage minutes written before it are summed into one row
 * per key and UTC day, which `keyUsageTotals` then reads (the limits' shared read by primary key).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { keyUsageDaysMigration } from '../../src/store/migrations/011-key-usage-days.js';
import { rawPostgres, rawSqlite } from '../support/raw-databases.js';

const DAY = Date.UTC(2026, 0, 5);
const MINUTE = 60_000;

for (const open of [rawSqlite, rawPostgres]) {
  describe(`migration 011-key-usage-days on ${open === rawSqlite ? 'sqlite' : 'postgres'}`, () => {
    it("sums every key's minutes per UTC day", async () => {
      const raw = await open();
      try {
        for (const migration of MIGRATIONS) {
          if (migration === keyUsageDaysMigration) break;
          await migration.up(raw.db, raw.dialect);
        }
        const row = (key: string, minute: number, bytes: number) => ({ key_id: key, minute, requests: 1, bytes, points: 3, hosts: 1 });
        await raw.db
          .insertInto('key_usage_minutes')
          .values([
            row('k1', DAY, 100),
            row('k1', DAY + 1439 * MINUTE, 5_000_000_000),
            row('k1', DAY + 1440 * MINUTE, 7), // the next UTC day
            row('k2', DAY + 10 * MINUTE, 9),
          ])
          .execute();
        await keyUsageDaysMigration.up(raw.db, raw.dialect);
        const days = await raw.db.selectFrom('key_usage_days').selectAll().orderBy('key_id').orderBy('day').execute();
        assert.deepEqual(
          days.map((d) => [d.key_id, Number(d.day), Number(d.bytes)]),
          [
            ['k1', DAY, 5_000_000_100],
            ['k1', DAY + 86_400_000, 7],
            ['k2', DAY, 9],
          ],
        );
      } finally {
        await raw.drop();
      }
    });
  });
}
