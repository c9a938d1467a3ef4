/**
 * The series collector (the read path of `/api/v1/query`) against the reading it replaced:
 * decodeChunk of every chunk in write order, the last value per (host, tags, ts) in a map,
 * points sorted by timestamp. Same points, same order, and the same query answers bit for bit
 * (sums are folded in the same order), for random chunks with re-sent and out-of-order points.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluateMetricPoints, evaluateMetricSeries, inWriteOrder, parseMetricQuery } from './metric-query.js';
import { decodeChunk, encodeChunk, type ChunkSeries } from './point-chunk.js';
import { seriesKey, type StoredPoint } from './point-store.js';
import { SeriesCollector } from './series-collector.js';

/** The read before the collector, kept here as the reference. */
function referencePoints(chunks: readonly Buffer[], from: number, to: number): StoredPoint[] {
  const latest = new Map<string, StoredPoint>();
  for (const chunk of chunks) {
    for (const { host, tags, type, interval, points } of decodeChunk(chunk)) {
      for (const [ts, value] of points) {
        if (ts < from || ts > to) continue;
        latest.set(`${seriesKey(host, tags)}\u0000${ts}`, { orgId: 'o', metric: 'm', host, tags, ts, value, type, interval });
      }
    }
  }
  return [...latest.values()].sort((a, b) => a.ts - b.ts);
}

function collectedPoints(chunks: readonly Buffer[], from: number, to: number): StoredPoint[] {
  const collector = new SeriesCollector(from, to);
  for (const chunk of chunks) collector.add(chunk);
  const points: Array<StoredPoint & { first: number }> = [];
  for (const s of collector.result()) {
    for (let i = 0; i < s.ts.length; i++) {
      const { type, interval } = s.kinds[s.kindIds[i]!]!;
      points.push({ orgId: 'o', metric: 'm', host: s.host, tags: s.tags, ts: s.ts[i]!, value: s.values[i]!, type, interval, first: s.firstWritten[i]! });
    }
  }
  return points.sort((a, b) => a.ts - b.ts || a.first - b.first).map(({ first: _, ...p }) => p);
}

const seriesArb: fc.Arbitrary<ChunkSeries> = fc.record({
  host: fc.constantFrom('a', 'b', 'c', ''),
  tags: fc.constantFrom([], ['env:prod'], ['env:dev', 'role:db']),
  type: fc.constantFrom('gauge' as const, 'count' as const, 'rate' as const),
  interval: fc.constantFrom(null, 10),
  points: fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.double({ noNaN: true, min: -1e6, max: 1e6 })), { maxLength: 8 }),
});
const chunksArb = fc.array(fc.array(seriesArb, { minLength: 1, maxLength: 4 }), { maxLength: 8 });

describe('SeriesCollector', () => {
  it('reads the same points as decoding every chunk, in the same order', () => {
    fc.assert(
      fc.property(chunksArb, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), (chunkSeries, a, b) => {
        const chunks = chunkSeries.map((series) => encodeChunk(series));
        const [from, to] = [Math.min(a, b), Math.max(a, b)];
        assert.deepEqual(collectedPoints(chunks, from, to), referencePoints(chunks, from, to));
      }),
      { numRuns: 300 },
    );
  });

  it('answers queries bit for bit as the points did', () => {
    const queries = [
      'avg:m{*}',
      'sum:m{*} by {host}',
      'max:m{env:prod} by {host}',
      'min:m{!role:db}',
      'avg:m{*}.rollup(sum, 7)',
      'sum:m{*} by {env}.as_count().rollup(avg, 5)',
      'avg:m{*}.as_rate().rollup(max, 10)',
      'sum:m{*}.rollup(count, 3).fill(zero)',
    ].map(parseMetricQuery);
    fc.assert(
      fc.property(chunksArb, (chunkSeries) => {
        const chunks = chunkSeries.map((series) => encodeChunk(series));
        const collector = new SeriesCollector(0, 40);
        for (const chunk of chunks) collector.add(chunk);
        const series = inWriteOrder(collector.result());
        const points = referencePoints(chunks, 0, 40);
        for (const query of queries) {
          assert.deepEqual(evaluateMetricSeries(query, series, { from: 0, to: 40 }), evaluateMetricPoints(query, points, { from: 0, to: 40 }));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('parses a header once however many chunks repeat it, and refuses a corrupt chunk', () => {
    const chunk = encodeChunk([{ host: 'h', tags: [], type: 'gauge', interval: null, points: [[1, 2]] }]);
    const collector = new SeriesCollector(0, 10);
    collector.add(chunk);
    collector.add(chunk);
    assert.equal(collector.result()[0]!.ts.length, 1, 'the same point re-sent counts once');
    assert.throws(() => collector.add(chunk.subarray(0, chunk.length - 8)), /corrupt/);
  });
});
