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
          org_id: org,
          metric,
          host,
          tags: JSON.stringify(tags),
          ts,
          value,
          type,
          interval,
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
        const chunks = await raw.db
          .selectFrom('metric_chunks')
          .select(['org_id', 'metric', 'ts_min', 'ts_max', 'n_points'])
          .orderBy('org_id')
          .orderBy('metric')
          .orderBy('ts_min')
          .execute();
        assert.deepEqual(
          chunks.map((c) => [c.org_id, c.metric, Number(c.ts_min), Number(c.ts_max), Number(c.n_points)]),
          [
            ['o1', 'cpu', 1000, 1010, 4],
            ['o1', 'cpu', 90_000, 90_000, 1],
            ['o1', 'hits', 990, 990, 1],
            ['o2', 'cpu', 1000, 1000, 1],
          ],
        );
        await assert.rejects(sql`select count(*) from metric_points`.execute(raw.db), 'the old table is dropped');
      } finally {
        await raw.drop();
      }
    });

    it('carries a metric larger than one page (25,000 rows over 3 days) in keyset pages, every point once', async () => {
      const raw = await open();
      try {
        await pointsMigration.up(raw.db, raw.dialect);
        const rows = [];
        // 25,000 points of one metric: 50 series × 500 timestamps 500 s apart (3 UTC days),
        // two per timestamp sharing (ts, host) but not tags, so the keyset must compare tags too.
        for (let i = 0; i < 500; i++) {
          for (let h = 0; h < 25; h++) {
            for (const tag of ['a:1', 'b:2']) {
              rows.push({
                org_id: 'o1',
                metric: 'big',
                host: `h${h}`,
                tags: JSON.stringify([tag]),
                ts: 1_000 + i * 500,
                value: i * 1000 + h,
                type: 'gauge',
                interval: null,
              });
            }
          }
        }
        for (let i = 0; i < rows.length; i += 1000)
          await raw.db
            .insertInto('metric_points')
            .values(rows.slice(i, i + 1000))
            .execute();
        await raw.db
          .insertInto('metric_points')
          .values({ org_id: 'o0', metric: 'small', host: 'x', tags: '[]', ts: 5, value: 1, type: 'gauge', interval: null })
          .execute();

        await pointChunksMigration.up(raw.db, raw.dialect);

        const points = new KyselyPointStore({ dialect: raw.dialect, db: raw.db, write: (fn) => raw.db.transaction().execute(fn) });
        const read = await points.queryPoints({ orgId: 'o1', metric: 'big', from: 0, to: 1_000_000 });
        assert.equal(read.length, 25_000);
        const seen = new Set(read.map((p) => `${p.host}|${p.tags.join(',')}|${p.ts}|${p.value}`));
        assert.equal(seen.size, 25_000, 'every point once');
        for (const row of rows) assert.ok(seen.has(`${row.host}|${JSON.parse(row.tags)[0]}|${row.ts}|${row.value}`));
        const chunks = await raw.db
          .selectFrom('metric_chunks')
          .select(['org_id', 'metric', 'ts_min', 'ts_max', 'n_points'])
          .orderBy('org_id')
          .orderBy('ts_min')
          .execute();
        assert.deepEqual(
          chunks.map((c) => [c.org_id, c.metric, Math.floor(Number(c.ts_min) / 86_400), Math.floor(Number(c.ts_max) / 86_400), Number(c.n_points)]),
          [
            ['o0', 'small', 0, 0, 1],
            ['o1', 'big', 0, 0, 171 * 50],
            ['o1', 'big', 1, 1, 173 * 50],
            ['o1', 'big', 2, 2, 156 * 50],
          ],
          'one chunk per (org, metric, UTC day)',
        );
      } finally {
        await raw.drop();
      }
    });
  });
}
