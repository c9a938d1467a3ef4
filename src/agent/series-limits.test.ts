import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TIMESTAMP_WINDOW, decodeV1Series } from '../intake/series-payload.js';
import { MAX_HOST_NAME, MAX_METRIC_NAME, MAX_TAG_LENGTH, MAX_TAGS } from '../intake/series-limits.js';
import type { Series } from './series.js';
import { DogStatsDAggregator } from './dogstatsd-aggregator.js';
import { parseDogStatsDLine, type DogStatsDSample } from './dogstatsd-parser.js';
import { SeriesLimits } from './series-limits.js';

const TS = 1_700_000_000;
const series = (over: Partial<Series> = {}): Series => ({ metric: 'm', points: [[TS, 1]], type: 'count', interval: 10, host: 'h', tags: ['a:b'], ...over });

/** True when the intake's decoder takes this series (today it throws; an intake that reports per-series errors may return them). */
function intakeAccepts(s: Series): boolean {
  try {
    const decoded = decodeV1Series({ series: [s] }, TS, DEFAULT_TIMESTAMP_WINDOW) as unknown;
    const list = Array.isArray(decoded) ? decoded : (decoded as { series?: unknown[] }).series;
    return Array.isArray(list) && list.length === 1;
  } catch {
    return false;
  }
}

test("the limits are the intake decoder's: at the limit accepted, one over refused", () => {
  assert.ok(intakeAccepts(series({ metric: 'm'.repeat(MAX_METRIC_NAME) })));
  assert.ok(!intakeAccepts(series({ metric: 'm'.repeat(MAX_METRIC_NAME + 1) })));
  assert.ok(intakeAccepts(series({ tags: ['t'.repeat(MAX_TAG_LENGTH)] })));
  assert.ok(!intakeAccepts(series({ tags: ['t'.repeat(MAX_TAG_LENGTH + 1)] })));
  const many = Array.from({ length: MAX_TAGS + 1 }, (_, i) => `t:${String(i).padStart(5, '0')}`);
  assert.ok(intakeAccepts(series({ tags: many.slice(0, MAX_TAGS) })));
  assert.ok(!intakeAccepts(series({ tags: many })));
  assert.ok(intakeAccepts(series({ host: 'h'.repeat(MAX_HOST_NAME) })));
  assert.ok(!intakeAccepts(series({ host: 'h'.repeat(MAX_HOST_NAME + 1) })));
});

test('only the offending tag, point or series is fixed; every result is accepted by the intake', () => {
  const limits = new SeriesLimits();
  const good = series({ metric: 'good' });
  const input: Series[] = [
    good,
    series({ metric: 'long.tag', tags: ['ok:1', `k:${'v'.repeat(300)}`] }),
    series({ metric: 'x'.repeat(MAX_METRIC_NAME + 1) }),
    series({
      metric: 'nan',
      points: [
        [TS, Number.NaN],
        [TS + 10, 2],
      ],
    }),
    series({ metric: 'inf', points: [[TS, Number.POSITIVE_INFINITY]] }),
    series({ metric: 'many.tags', tags: Array.from({ length: MAX_TAGS + 5 }, (_, i) => `t:${i}`) }),
    series({ metric: 'long.host', host: 'h'.repeat(300) }),
  ];
  const out = limits.apply(input);
  assert.deepEqual(out[0], good, 'a valid series is passed on as it is');
  const clean = [series({ metric: 'a' }), series({ metric: 'b' })];
  const same = new SeriesLimits().apply(clean);
  assert.ok(same[0] === clean[0] && same[1] === clean[1], 'nothing to fix: no copy');
  assert.deepEqual(
    out.map((s) => s.metric),
    ['good', 'long.tag', 'nan', 'many.tags', 'long.host'],
  );
  for (const s of out) assert.ok(intakeAccepts(s), `${s.metric} is accepted`);
  assert.equal(out[1]!.tags[1], `k:${'v'.repeat(MAX_TAG_LENGTH - 2)}`);
  assert.deepEqual(out[2]!.points, [[TS + 10, 2]]);
  assert.equal(out[3]!.tags.length, MAX_TAGS);
  assert.deepEqual(limits.counters, {
    seriesDropped: 2,
    pointsDropped: 2,
    tagsTruncated: 1,
    tagsDropped: 5,
    hostsTruncated: 1,
    lastFix: `host name longer than ${MAX_HOST_NAME} characters truncated`,
  });
  assert.equal(input[1]!.tags[1]!.length, 302, 'the input is not modified');
});

test('two series that become one after truncation are merged: counts add up, so the intake keeps both', () => {
  const limits = new SeriesLimits();
  const long = 'v'.repeat(MAX_TAG_LENGTH + 50);
  const out = limits.apply([
    series({ metric: 'c', tags: [`k:${long}a`], points: [[TS, 3]] }),
    series({ metric: 'c', tags: [`k:${long}b`], points: [[TS, 4]] }),
    series({ metric: 'g', type: 'gauge', tags: [`k:${long}a`], points: [[TS, 3]] }),
    series({ metric: 'g', type: 'gauge', tags: [`k:${long}b`], points: [[TS, 4]] }),
  ]);
  assert.deepEqual(
    out.map((s) => [s.metric, s.points]),
    [
      ['c', [[TS, 7]]],
      ['g', [[TS, 4]]],
    ],
  );
});

test('a truncated tag never ends in half a surrogate pair', () => {
  const limits = new SeriesLimits();
  const tag = `${'a'.repeat(MAX_TAG_LENGTH - 1)}😀😀`;
  const [out] = limits.apply([series({ tags: [tag] })]);
  assert.equal(out!.tags[0], 'a'.repeat(MAX_TAG_LENGTH - 1));
});

test('a tag repeated (in the line, or a config tag also sent by the client) is one tag at the intake: the two contexts are merged, no count lost', () => {
  // The intake de-duplicates tags, so `#env:prod` + config tag `env:prod` and no tag + config
  // tag `env:prod` are one series there, and the newest write of the point wins.
  const agg = new DogStatsDAggregator(
    () => 'h',
    () => ['env:prod'],
  );
  const t0 = TS * 1000;
  for (let i = 0; i < 100; i++) {
    for (const line of ['dup.hits:1|c|#env:prod', 'dup.hits:1|c', 'dup2.hits:1|c|#a,a', 'dup2.hits:1|c|#a']) {
      const parsed = parseDogStatsDLine(line);
      assert.equal(parsed.kind, 'sample');
      agg.add((parsed as { sample: DogStatsDSample }).sample, t0 + i);
    }
  }
  const sent = new SeriesLimits().apply(agg.flushAll());
  // What the intake stores: its decoder's canonical series, newest write of a point wins.
  const stored = new Map<string, number>();
  for (const s of decodeV1Series({ series: sent }, TS, DEFAULT_TIMESTAMP_WINDOW)) {
    for (let i = 0; i < s.points.length; i += 2) stored.set(`${s.metric}|${s.host}|${s.tags.join(',')}|${s.points[i]}`, s.points[i + 1]!);
  }
  // Counters are sent as rates per second over 10 s: × 10 is the count.
  const sum = (metric: string) => [...stored].filter(([id]) => id.startsWith(`${metric}|`)).reduce((n, [, v]) => n + v * 10, 0);
  assert.equal(sum('dup.hits'), 200);
  assert.equal(sum('dup2.hits'), 200);
  for (const s of sent) assert.equal(new Set(s.tags).size, s.tags.length, `${s.metric} is sent with each tag once`);
});
