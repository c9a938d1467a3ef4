import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeChunk, encodeChunk, normalisePoints, type ChunkSeries } from './point-chunk.js';

const seriesArbitrary: fc.Arbitrary<ChunkSeries> = fc
  .record({
    host: fc.string(),
    tags: fc.uniqueArray(fc.string()).map((tags) => tags.sort()),
    type: fc.constantFrom('gauge' as const, 'count' as const, 'rate' as const),
    interval: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: null }),
    points: fc
      .array(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 50 })
      .map((raw) => normalisePoints(raw)),
  })
  .map((record) => ({ ...record })); // fast-check's records have a null prototype

describe('point chunks', () => {
  it('round-trip every host, tag set, type, interval, epoch second and finite value exactly', () => {
    fc.assert(
      fc.property(fc.array(seriesArbitrary, { maxLength: 20 }), (series) => {
        assert.deepEqual(decodeChunk(encodeChunk(series)), series);
      }),
    );
  });

  it('normalise to one point per timestamp, ordered, the last value given winning', () => {
    assert.deepEqual(
      normalisePoints([
        [30, 1],
        [10, 2],
        [30, 3],
        [20, 4],
      ]),
      [
        [10, 2],
        [20, 4],
        [30, 3],
      ],
    );
  });

  it('are a header, padding to 8 bytes, then little-endian float64 pairs', () => {
    const blob = encodeChunk([{ host: 'h', tags: ['a:1'], type: 'gauge', interval: null, points: [[1_700_000_000, 0.5]] }]);
    const headerLength = blob.readUInt32LE(0);
    assert.deepEqual(JSON.parse(blob.subarray(4, 4 + headerLength).toString()), [['h', ['a:1'], 'gauge', null, 1]]);
    const valuesAt = Math.ceil((4 + headerLength) / 8) * 8;
    assert.equal(blob.length, valuesAt + 16);
    assert.equal(blob.readDoubleLE(valuesAt), 1_700_000_000);
    assert.equal(blob.readDoubleLE(valuesAt + 8), 0.5);
  });

  it('refuse a corrupt blob with an error, whatever its bytes', () => {
    assert.throws(() => decodeChunk(Buffer.alloc(2)), /corrupt/);
    const good = encodeChunk([
      {
        host: 'h',
        tags: [],
        type: 'count',
        interval: 10,
        points: [
          [1, 1],
          [2, 2],
        ],
      },
    ]);
    assert.throws(() => decodeChunk(good.subarray(0, good.length - 8)), /corrupt/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeChunk(bytes);
        } catch (error) {
          assert.match((error as Error).message, /corrupt/);
        }
      }),
    );
  });
});
