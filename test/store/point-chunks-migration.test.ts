/**
 * Migration 003 on both databases: points stored one row each by 002 are carried into chunks
 * and read back unchanged — every series, type and interval — and the old table is gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { KyselyPointStore } from '../../src/points/kysely-point-store.js';
import { pointsMigration } from '../../src/store/migrations/002-points.js';
import { pointChunksMigration } from '../../src/store/migrations/003-point-chunks.js';
import { rawPostgres, rawSqlite } from '../support/raw-databases.js';

for (const open of [rawSqlite, rawPostgres]) {
  describe(`migration 003-point-chunks on ${open === rawSqlite ? 'sqlite' : 'postgres'}`, () => {
    it('carries every point of metric_points into chunks that read back the same', async () => {
      const raw = await open();
      try {
        await pointsMigration.up(raw.db, raw.dialect);
        const row = (org: string, metric: string, host: string, tags: string[], ts: number, value: number, type = 'gauge', interval: number | null = null) => ({
          org_id: org, metric, host, tags: JSON.stringify(tags), ts, value, type, interval,
        });
        const rows = [
          row('o1', 'cpu', 'web-1', ['env:prod'], 1000, 0.5),
          row('o1', 'cpu', 'web-1', ['env:prod'], 1010, 0.75),
          row('o1', 'cpu', 'web-2', [], 1005, -3),
          row('o1', 'cpu', 'web-1', ['env:dev', 'role:x'], 1000, 1e300),
          row('o1', 'hits', 'web-1', [], 990, 12, 'count', 10),
          row('o2', 'cpu', 'web-1', ['env:prod'], 1000, 99),
          row('o1', 'cpu', 'web-1', ['env:prod'], 90_000, 7), // the next UTC day: its own chunk
        ];
        await raw.db.insertInto('metric_points').values(rows).execute();

        await pointChunksMigration.up(raw.db, raw.dialect);

        const points = new KyselyPointStore({ dialect: raw.dialect, db: raw.db, write: (fn) => raw.db.transaction().execute(fn) });
        const read = async (org: string, metric: string) =>
          (await points.queryPoints({ orgId: org, metric, from: 0, to: 100_000 }))
            .map((p) => [p.host, p.tags.join(','), p.ts, p.value, p.type, p.interval])
            .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        assert.deepEqual(await read('o1', 'cpu'), [
          ['web-1', 'env:dev,role:x', 1000, 1e300, 'gauge', null],
          ['web-1', 'env:prod', 1000, 0.5, 'gauge', null],
          ['web-1', 'env:prod', 1010, 0.75, 'gauge', null],
          ['web-1', 'env:prod', 90_000, 7, 'gauge', null],
          ['web-2', '', 1005, -3, 'gauge', null],
        ]);
        assert.deepEqual(await read('o1', 'hits'), [['web-1', '', 990, 12, 'count', 10]]);
        assert.deepEqual(await read('o2', 'cpu'), [['web-1', 'env:prod', 1000, 99, 'gauge', null]]);
        const chunks = await raw.db.selectFrom('metric_chunks').select(['org_id', 'metric', 'ts_min', 'ts_max', 'n_points']).orderBy('org_id').orderBy('metric').orderBy('ts_min').execute();
        assert.deepEqual(chunks.map((c) => [c.org_id, c.metric, Number(c.ts_min), Number(c.ts_max), Number(c.n_points)]), [
          ['o1', 'cpu', 1000, 1010, 4],
          ['o1', 'cpu', 90_000, 90_000, 1],
          ['o1', 'hits', 990, 990, 1],
          ['o2', 'cpu', 1000, 1000, 1],
        ]);
        await assert.rejects(sql`select count(*) from metric_points`.execute(raw.db), 'the old table is dropped');
      } finally {
        await raw.drop();
      }
    });
  });
}
