import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DogStatsDAggregator } from './dogstatsd-aggregator.js';
import { parseDogStatsDLine, type DogStatsDSample } from './dogstatsd-parser.js';

const T0 = 1_700_000_000_000; // a multiple of 10 s

function sample(line: string): DogStatsDSample {
  const parsed = parseDogStatsDLine(line);
  assert.equal(parsed.kind, 'sample', line);
  return (parsed as { sample: DogStatsDSample }).sample;
}

test('aggregates per 10 s bucket; a bucket is flushed only once it has closed', () => {
  const agg = new DogStatsDAggregator(() => 'h1', () => ['env:test']);
  for (let i = 0; i < 100; i++) agg.add(sample('hits:1|c|#a:b'), T0 + i * 50);
  agg.add(sample('hits:1|c|@0.5|#a:b'), T0 + 9_999);
  agg.add(sample('temp:20|g'), T0 + 1000);
  agg.add(sample('temp:21|g'), T0 + 2000);
  agg.add(sample('hits:7|c|#a:b'), T0 + 10_000); // next bucket
  assert.deepEqual(agg.flushClosed(T0 + 9_999), []);
  const first = agg.flushClosed(T0 + 10_000);
  const hits = first.find((s) => s.metric === 'hits')!;
  assert.deepEqual(hits.points, [[T0 / 1000, 102]]);
  assert.equal(hits.type, 'count');
  assert.equal(hits.interval, 10);
  assert.deepEqual(hits.tags, ['a:b', 'env:test']);
  assert.equal(hits.host, 'h1');
  assert.deepEqual(first.find((s) => s.metric === 'temp')!.points, [[T0 / 1000, 21]]);
  const second = agg.flushClosed(T0 + 20_000);
  assert.deepEqual(second.map((s) => [s.metric, s.points]), [['hits', [[T0 / 1000 + 10, 7]]]]);
  assert.equal(agg.pendingContexts, 0);
});

test('tags in another order are the same context', () => {
  const agg = new DogStatsDAggregator(() => 'h', () => []);
  agg.add(sample('x:1|c|#a,b'), T0);
  agg.add(sample('x:1|c|#b,a'), T0);
  assert.equal(agg.flushAll().length, 1);
});

test('histograms, timings and distributions give avg/max/median/95percentile/count; sets count members', () => {
  const agg = new DogStatsDAggregator(() => 'h', () => []);
  for (let v = 1; v <= 100; v++) agg.add(sample(`lat:${v}|h`), T0);
  agg.add(sample('rt:10|ms|@0.5'), T0);
  agg.add(sample('dist:1:3|d'), T0);
  for (const user of ['a', 'b', 'a', 'c']) agg.add(sample(`users:${user}|s`), T0);
  const out = new Map(agg.flushAll().map((s) => [s.metric, s.points[0]![1]]));
  assert.equal(out.get('lat.avg'), 50.5);
  assert.equal(out.get('lat.max'), 100);
  assert.equal(out.get('lat.median'), 50);
  assert.equal(out.get('lat.95percentile'), 95);
  assert.equal(out.get('lat.count'), 100);
  assert.equal(out.get('rt.count'), 2);
  assert.equal(out.get('dist.avg'), 2);
  assert.equal(out.get('users'), 3);
});

test('bounds the number of contexts', () => {
  const agg = new DogStatsDAggregator(() => 'h', () => [], 10);
  for (let i = 0; i < 20; i++) agg.add(sample(`m${i}:1|c`), T0);
  assert.equal(agg.pendingContexts, 10);
  assert.equal(agg.droppedContexts, 10);
});

test('open buckets survive a snapshot and restore: counts, sets and histograms continue; an ended bucket is flushed as it was', () => {
  const add = (agg: DogStatsDAggregator, line: string, now: number) => agg.add(sample(line), now);
  const t0 = 1_700_000_000_000; // a bucket start
  const before = new DogStatsDAggregator(() => 'h', () => []);
  add(before, 'c:3|c', t0 + 1000);
  add(before, 's:a|s', t0 + 1000);
  add(before, 'h:10|h', t0 + 1000);
  add(before, 'old:7|c', t0 - 20_000); // a bucket that has ended
  const snapshot = JSON.parse(JSON.stringify(before.snapshotOpen(t0 + 2000)));
  assert.deepEqual(snapshot.buckets.map((b: { start: number }) => b.start), [t0 / 1000], 'only open buckets');

  const after = new DogStatsDAggregator(() => 'h', () => []);
  after.restore(snapshot);
  add(after, 'c:5|c', t0 + 3000);
  add(after, 's:b|s', t0 + 3000);
  add(after, 'h:20|h', t0 + 3000);
  const out = new Map(after.flushClosed(t0 + 10_000).map((s) => [s.metric, s.points[0]![1]]));
  assert.equal(out.get('c'), 8);
  assert.equal(out.get('s'), 2);
  assert.equal(out.get('h.count'), 2);
  assert.equal(out.get('h.max'), 20);

  // A snapshot from long ago: its bucket has ended, the next flush sends it as it was.
  const stale = new DogStatsDAggregator(() => 'h', () => []);
  stale.restore(snapshot);
  const flushed = stale.flushClosed(t0 + 3_600_000);
  assert.deepEqual(flushed.find((s) => s.metric === 'c')!.points, [[t0 / 1000, 3]]);
});
