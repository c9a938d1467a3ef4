import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeBatchRecord } from './batch-record.js';
import { ChunkBuilder } from './chunk-builder.js';
import { decodeChunk } from './point-chunk.js';
import type { StoredSeries } from './point-store.js';

const write: fc.Arbitrary<StoredSeries> = fc
  .record({
    orgId: fc.constantFrom('org-a', 'org-b'),
    metric: fc.constantFrom('m1', 'm2'),
    host: fc.constantFrom('', 'h1', 'h2'),
    tags: fc.constantFrom([], ['a:1'], ['a:1', 'b\u0000c'], ['a:1\u0000b:c']),
    type: fc.constantFrom('gauge' as const, 'count' as const),
    interval: fc.constantFrom(null, 10),
    pairs: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 8 }),
    packed: fc.boolean(),
  })
  .map(({ pairs, packed, ...series }) => ({ ...series, points: packed ? Float64Array.from(pairs.flat()) : pairs }));

const pairsOf = (points: StoredSeries['points']) =>
  points instanceof Float64Array ? Array.from({ length: points.length / 2 }, (_, i) => [points[2 * i]!, points[2 * i + 1]!]) : points.map(([ts, v]) => [ts, v]);

/** What a batch of writes must read back as: per (org, metric) row, per (host, tags) series, every point in write order. */
function expected(writes: readonly StoredSeries[]) {
  const rows = new Map<string, Map<string, { host: string; tags: readonly string[]; type: string; interval: number | null; points: number[][] }>>();
  for (const w of writes) {
    const points = pairsOf(w.points);
    if (points.length === 0) continue;
    const rowKey = JSON.stringify([w.orgId, w.metric]);
    if (!rows.has(rowKey)) rows.set(rowKey, new Map());
    const seriesKey = JSON.stringify([w.host, w.tags]);
    const seen = rows.get(rowKey)!.get(seriesKey);
    if (seen) Object.assign(seen, { type: w.type, interval: w.interval, points: [...seen.points, ...points] });
    else rows.get(rowKey)!.set(seriesKey, { host: w.host, tags: w.tags, type: w.type, interval: w.interval, points });
  }
  return [...rows].map(([key, series]) => ({ key, series: [...series.values()] })).sort((a, b) => a.key.localeCompare(b.key));
}

function built(builder: ChunkBuilder) {
  return builder
    .rows()
    .map((row) => {
      const series = decodeChunk(row.points).map((s) => ({ ...s, points: s.points.map(([ts, v]) => [ts, v]) }));
      const all = series.flatMap((s) => s.points.map(([ts]) => ts!));
      assert.equal(row.n_points, all.length);
      assert.equal(row.ts_min, Math.min(...all));
      assert.equal(row.ts_max, Math.max(...all));
      return { key: JSON.stringify([row.org_id, row.metric]), series };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

describe('the chunk builder', () => {
  it('makes one row per (org, metric) and one entry per (host, tags), points in write order, from series or journal records alike', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 25 }), fc.integer({ min: 1, max: 5 }), (writes, perRecord) => {
        const fromSeries = new ChunkBuilder();
        fromSeries.addSeries(writes);
        assert.deepEqual(built(fromSeries), expected(writes));

        const fromRecords = new ChunkBuilder();
        for (let i = 0; i < writes.length; i += perRecord) {
          fromRecords.addRecord(encodeBatchRecord({ series: writes.slice(i, i + perRecord), hosts: [], checkRuns: [] }));
        }
        assert.deepEqual(built(fromRecords), expected(writes));
      }),
    );
  });

  it("collects a record's host sightings and check runs", () => {
    const builder = new ChunkBuilder();
    const host = { orgId: 'o', host: 'h', firstSeen: 1, lastSeen: 2, agentVersion: null, metadata: null };
    const check = { orgId: 'o', check: 'c', host: 'h', tags: [], status: 0, message: '', ts: 3 };
    builder.addRecord(encodeBatchRecord({ series: [], hosts: [host], checkRuns: [check] }));
    assert.deepEqual(builder.hosts, [host]);
    assert.deepEqual(builder.checkRuns, [check]);
    assert.deepEqual(builder.rows(), []);
  });
});
