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
  const agg = new DogStatsDAggregator(
    () => 'h1',
    () => ['env:test'],
  );
  for (let i = 0; i < 100; i++) agg.add(sample('hits:1|c|#a:b'), T0 + i * 50);
  agg.add(sample('hits:1|c|@0.5|#a:b'), T0 + 9_999);
  agg.add(sample('temp:20|g'), T0 + 1000);
  agg.add(sample('temp:21|g'), T0 + 2000);
  agg.add(sample('hits:7|c|#a:b'), T0 + 10_000); // next bucket
  assert.deepEqual(agg.flushClosed(T0 + 9_999), []);
  const first = agg.flushClosed(T0 + 10_000);
  const hits = first.find((s) => s.metric === 'hits')!;
  // 102 counted in the 10 s bucket: a rate of 10.2/s, as the Datadog Agent sends it.
  assert.deepEqual(hits.points, [[T0 / 1000, 10.2]]);
  assert.equal(hits.type, 'rate');
  assert.equal(hits.interval, 10);
  assert.deepEqual(hits.tags, ['a:b', 'env:test']);
  assert.equal(hits.host, 'h1');
  assert.deepEqual(first.find((s) => s.metric === 'temp')!.points, [[T0 / 1000, 21]]);
  const second = agg.flushClosed(T0 + 20_000);
  assert.deepEqual(
    second.map((s) => [s.metric, s.points]),
    [['hits', [[T0 / 1000 + 10, 0.7]]]],
  );
  assert.equal(agg.pendingContexts, 0);
});

test('tags in another order are the same context', () => {
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  agg.add(sample('x:1|c|#a,b'), T0);
  agg.add(sample('x:1|c|#b,a'), T0);
  assert.equal(agg.flushAll().length, 1);
});

test("a repeated tag is the same context (the intake de-duplicates tags): a histogram's samples are aggregated together", () => {
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  agg.add(sample('lat:1|h|#a,a'), T0);
  agg.add(sample('lat:3|h|#a'), T0);
  const out = new Map(agg.flushAll().map((s) => [s.metric, s.points[0]![1]]));
  assert.equal(out.get('lat.avg'), 2);
  assert.equal(out.get('lat.max'), 3);
  assert.equal(out.get('lat.count'), 0.2);
});

test('histograms and timings give avg/max/median/95percentile/count; sets count members', () => {
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  for (let v = 1; v <= 100; v++) agg.add(sample(`lat:${v}|h`), T0);
  agg.add(sample('rt:10|ms|@0.5'), T0);
  for (const user of ['a', 'b', 'a', 'c']) agg.add(sample(`users:${user}|s`), T0);
  const out = new Map(agg.flushAll().map((s) => [s.metric, s.points[0]![1]]));
  assert.equal(out.get('lat.avg'), 50.5);
  assert.equal(out.get('lat.max'), 100);
  assert.equal(out.get('lat.median'), 50);
  assert.equal(out.get('lat.95percentile'), 95);
  assert.equal(out.get('lat.count'), 10, '100 samples in 10 s: 10/s');
  assert.equal(out.get('rt.count'), 0.2, 'one sample at @0.5 counts 2, per 10 s');
  assert.equal(out.get('users'), 3);
});

test('distributions are DDSketches per context and bucket, taken apart from the series, weighted by 1/sample rate', () => {
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => ['env:test'],
  );
  for (let v = 1; v <= 1000; v++) agg.add(sample(`dist:${v}|d|#b,a`), T0 + (v % 10) * 100);
  agg.add(sample('dist:5000|d|@0.5|#a,b'), T0);
  agg.add(sample('dist:7|d|#a,b'), T0 + 10_000); // next bucket
  const series = agg.flushClosed(T0 + 10_000);
  assert.deepEqual(
    series.filter((s) => s.metric.startsWith('dist')),
    [],
    'no host-side histogram gauges',
  );
  const [closed, ...more] = agg.takeSketches();
  assert.equal(more.length, 0);
  assert.deepEqual([closed!.metric, closed!.host, closed!.tags, closed!.sketch.ts], ['dist', 'h', ['a', 'b', 'env:test'], T0 / 1000]);
  assert.equal(closed!.sketch.cnt, 1002, '1,000 values and one at @0.5 counted twice');
  assert.equal(closed!.sketch.min, 1);
  assert.equal(closed!.sketch.max, 5000);
  assert.equal(closed!.sketch.sum, 500_500 + 10_000);
  assert.deepEqual(agg.takeSketches(), [], 'taken once');
  agg.flushAll();
  assert.deepEqual(
    agg.takeSketches().map((s) => [s.sketch.ts, s.sketch.cnt]),
    [[T0 / 1000 + 10, 1]],
  );
});

test('an open distribution bucket survives a graceful restart (snapshot and restore)', () => {
  const before = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  for (let v = 1; v <= 10; v++) before.add(sample(`d:${v}|d`), T0 + 1000);
  const snapshot = JSON.parse(JSON.stringify(before.snapshotOpen(T0 + 2000)));
  const after = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  assert.equal(after.restore(snapshot, T0 + 3000), 0);
  for (let v = 11; v <= 20; v++) after.add(sample(`d:${v}|d`), T0 + 4000);
  after.flushClosed(T0 + 10_000);
  const [sketch] = after.takeSketches();
  assert.deepEqual([sketch!.sketch.cnt, sketch!.sketch.min, sketch!.sketch.max, sketch!.sketch.sum], [20, 1, 20, 210]);
});

test('bounds the number of contexts', () => {
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => [],
    10,
  );
  for (let i = 0; i < 20; i++) agg.add(sample(`m${i}:1|c`), T0);
  assert.equal(agg.pendingContexts, 10);
  assert.equal(agg.droppedContexts, 10);
});

test('open buckets survive a snapshot and restore: counts, sets and histograms continue; an ended bucket is flushed as it was', () => {
  const add = (agg: DogStatsDAggregator, line: string, now: number) => agg.add(sample(line), now);
  const t0 = 1_700_000_000_000; // a bucket start
  const before = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  add(before, 'c:3|c', t0 + 1000);
  add(before, 's:a|s', t0 + 1000);
  add(before, 'h:10|h', t0 + 1000);
  add(before, 'old:7|c', t0 - 20_000); // a bucket that has ended
  const snapshot = JSON.parse(JSON.stringify(before.snapshotOpen(t0 + 2000)));
  assert.deepEqual(
    snapshot.buckets.map((b: { start: number }) => b.start),
    [t0 / 1000],
    'only open buckets',
  );

  const after = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  after.restore(snapshot, t0 + 2500);
  add(after, 'c:5|c', t0 + 3000);
  add(after, 's:b|s', t0 + 3000);
  add(after, 'h:20|h', t0 + 3000);
  const out = new Map(after.flushClosed(t0 + 10_000).map((s) => [s.metric, s.points[0]![1]]));
  assert.equal(out.get('c'), 0.8, '3 before the restart + 5 after, per 10 s');
  assert.equal(out.get('s'), 2);
  assert.equal(out.get('h.count'), 0.2);
  assert.equal(out.get('h.max'), 20);

  // A snapshot from long ago: its bucket has ended, the next flush sends it as it was.
  const stale = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  stale.restore(snapshot, t0 + 3_600_000);
  const flushed = stale.flushClosed(t0 + 3_600_000);
  assert.deepEqual(flushed.find((s) => s.metric === 'c')!.points, [[t0 / 1000, 0.3]]);
});

test('a damaged or edited open-buckets snapshot never breaks a flush: bad entries are skipped, the rest and the live counts are kept', () => {
  const t0 = 1_700_000_000_000;
  const start = t0 / 1000;
  const ctx = (name: string, agg: unknown, tags: unknown = []) => ({ key: `c|${name}|`, name, tags, agg });
  const hostile = {
    version: 1,
    savedAt: 1e300,
    buckets: [
      {
        start,
        contexts: [
          ctx('good', { kind: 'count', value: 3 }),
          ctx('str', { kind: 'count', value: '12' }), // would concatenate: "0" + "12"
          ctx('kind', { kind: 'set', members: ['a', 'b'] }), // a set under a count's key
          ctx('nulltags', { kind: 'gauge', value: 5 }, null),
          ctx('nan', { kind: 'count', value: null }),
          ctx('emptyhist', { kind: 'histogram', values: [], count: 3 }),
          ctx('proto', { kind: 'constructor', value: 1 }),
          null,
        ],
      },
      { start: start + 10 * 1e6, contexts: [ctx('future', { kind: 'count', value: 1 })] }, // never ends: held forever
      { start: 'x', contexts: [ctx('badstart', { kind: 'count', value: 1 })] },
      { start: start + 3, contexts: [ctx('unaligned', { kind: 'count', value: 1 })] },
      null,
    ],
  };
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  const skipped = agg.restore(JSON.parse(JSON.stringify(hostile)), t0 + 1000);
  agg.add(sample('str:5|c'), t0 + 2000);
  agg.add(sample('kind:5|c'), t0 + 2000);
  agg.add(sample('nulltags:1|g'), t0 + 2000);
  const flushed = agg.flushClosed(t0 + 10_000);
  const out = new Map(flushed.map((s) => [`${s.metric}/${s.type}`, s]));
  assert.equal(out.get('good/rate')!.points[0]![1], 0.3);
  assert.equal(out.get('str/rate')!.points[0]![1], 0.5, 'a live count is a number, not "012" + 5');
  assert.equal(out.get('kind/rate')!.points[0]![1], 0.5, "the key is recomputed: a set never lands on a count's context");
  assert.equal(out.get('kind/gauge')!.points[0]![1], 2);
  assert.deepEqual(out.get('nulltags/gauge')!.tags, []);
  assert.deepEqual([...out.keys()].sort(), ['good/rate', 'kind/gauge', 'kind/rate', 'nulltags/gauge', 'str/rate']);
  for (const s of flushed) assert.ok(typeof s.points[0]![1] === 'number' && Number.isFinite(s.points[0]![1]), `${s.metric}: a finite number`);
  assert.equal(skipped, 10);
  assert.equal(agg.pendingContexts, 0, 'nothing is left in a bucket that never ends');
});

test('a snapshot written under another hostname or other config tags is not continued: those counts were already sent under the old ones', () => {
  const t0 = 1_700_000_000_000;
  const before = new DogStatsDAggregator(
    () => 'hostA',
    () => ['env:prod'],
  );
  before.add(sample('hits:300|c'), t0 + 1000);
  const snapshot = JSON.parse(JSON.stringify(before.snapshotOpen(t0 + 2000)));
  const sentAtStop = before.flushAll(); // what the stopping agent queued: 300 under hostA
  assert.deepEqual(
    sentAtStop.map((s) => [s.host, s.points[0]![1]]),
    [['hostA', 30]],
    '300 per 10 s',
  );
  for (const [host, tags] of [
    ['hostB', ['env:prod']],
    ['hostA', ['env:staging']],
  ] as const) {
    const after = new DogStatsDAggregator(
      () => host,
      () => [...tags],
    );
    assert.throws(() => after.restore(snapshot, t0 + 3000), /host|tags/);
    after.add(sample('hits:500|c'), t0 + 4000);
    assert.deepEqual(
      after.flushAll().map((s) => s.points[0]![1]),
      [50],
      `${host} ${tags}: 500 counted once (50/s), not 800`,
    );
  }
  const same = new DogStatsDAggregator(
    () => 'hostA',
    () => ['env:prod'],
  );
  same.restore(snapshot, t0 + 3000);
  same.add(sample('hits:500|c'), t0 + 4000);
  assert.deepEqual(
    same.flushAll().map((s) => s.points[0]![1]),
    [80],
  );
});
