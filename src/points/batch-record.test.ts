import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBatchRecord, encodeBatchRecord } from './batch-record.js';
import type { PointBatch, StoredSeries } from './point-store.js';

const pairs = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 30 });
const seriesArbitrary: fc.Arbitrary<StoredSeries> = fc
  .record({
    orgId: fc.uuid(),
    metric: fc.string({ minLength: 1 }),
    host: fc.string(),
    tags: fc.uniqueArray(fc.string()).map((tags) => tags.sort()),
    type: fc.constantFrom('gauge' as const, 'count' as const, 'rate' as const),
    interval: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: null }),
    // Both forms a batch may hold: pairs from a decoder, or packed.
    points: fc.oneof(
      pairs,
      pairs.map((list) => Float64Array.from(list.flat())),
    ),
  })
  .map((record) => ({ ...record }));
const batchArbitrary: fc.Arbitrary<PointBatch> = fc
  .record({
    series: fc.array(seriesArbitrary, { maxLength: 15 }),
    hosts: fc.array(
      fc
        .record({
          orgId: fc.uuid(),
          host: fc.string(),
          firstSeen: fc.nat(),
          lastSeen: fc.nat(),
          agentVersion: fc.option(fc.string(), { nil: null }),
          metadata: fc.option(fc.string(), { nil: null }),
        })
        .map((r) => ({ ...r })),
      { maxLength: 3 },
    ),
    checkRuns: fc.array(
      fc
        .record({
          orgId: fc.uuid(),
          check: fc.string(),
          host: fc.string(),
          tags: fc.array(fc.string()),
          status: fc.integer({ min: 0, max: 3 }),
          message: fc.string(),
          ts: fc.nat(),
        })
        .map((r) => ({ ...r })),
      { maxLength: 3 },
    ),
  })
  .map((record) => ({ ...record }));

/** Points as plain pairs, whichever form they were in. */
const plain = (batch: PointBatch) => ({
  ...batch,
  series: batch.series.map((s) => ({
    ...s,
    points:
      s.points instanceof Float64Array
        ? Array.from({ length: s.points.length / 2 }, (_, i) => [s.points[2 * i], s.points[2 * i + 1]])
        : s.points.map((p) => [...p]),
  })),
});

describe('journal batch records', () => {
  it('round-trip every series, host sighting and check run exactly, whatever form the points had', () => {
    fc.assert(
      fc.property(batchArbitrary, (batch) => {
        const decoded = decodeBatchRecord(encodeBatchRecord(batch));
        assert.ok(
          decoded.series.every((s) => s.points instanceof Float64Array),
          'decoded points are packed',
        );
        assert.deepEqual(plain(decoded), plain(batch));
      }),
    );
  });

  it('decode a record that does not start on an 8-byte boundary (as read from a file)', () => {
    const record = encodeBatchRecord({
      series: [
        {
          orgId: 'o',
          metric: 'm',
          host: 'h',
          tags: ['a:1'],
          type: 'gauge',
          interval: null,
          points: [
            [1_700_000_000, 0.25],
            [1_700_000_010, -3],
          ],
        },
      ],
      hosts: [],
      checkRuns: [],
    });
    const file = new Uint8Array(record.byteLength + 3);
    file.set(record, 3);
    const decoded = decodeBatchRecord(file.subarray(3));
    assert.deepEqual([...(decoded.series[0]!.points as Float64Array)], [1_700_000_000, 0.25, 1_700_000_010, -3]);
  });

  it('refuse a record whose lengths do not add up, naming it corrupt', () => {
    const record = encodeBatchRecord({
      series: [{ orgId: 'o', metric: 'm', host: '', tags: [], type: 'count', interval: 10, points: [[1, 1]] }],
      hosts: [],
      checkRuns: [],
    });
    assert.throws(() => decodeBatchRecord(record.subarray(0, record.byteLength - 8)), /corrupt: its lengths do not add up/);
    assert.throws(() => decodeBatchRecord(record.subarray(0, 4)), /corrupt: no header/);
  });
});
