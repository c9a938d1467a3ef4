import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRekeyError } from '../errors.js';
import {
  defaultRollupSeconds,
  evaluateMetricQuery,
  evaluateQueries,
  globMatches,
  parseMetricQuery,
  parseQueries,
  pointSource,
  renderExpr,
  type MetricQuery,
  type QueryExpr,
} from './metric-query.js';
import type { StoredPoint } from './point-store.js';

const p = (
  host: string,
  tags: string[],
  ts: number,
  value: number,
  type: StoredPoint['type'] = 'gauge',
  interval: number | null = null,
  metric = 'm',
): StoredPoint => ({
  orgId: 'o',
  metric,
  host,
  tags,
  ts,
  value,
  type,
  interval,
});
const WINDOW = { from: 0, to: 3600 };
const run = (text: string, points: readonly StoredPoint[], window = WINDOW) =>
  evaluateQueries(
    parseQueries(text),
    pointSource((q) => points.filter((point) => point.metric === q.metric), window),
  );
const pointsOf = (text: string, points: readonly StoredPoint[]) => run(text, points).map((s) => s.pointlist);
const invalid = (text: string) =>
  assert.throws(
    () => parseQueries(text),
    (e) => isRekeyError(e, 'INVALID_QUERY'),
    text,
  );

describe('metric query: parsing', () => {
  it('parses aggregator, metric, filters (negated, wildcard), by, and every method', () => {
    const [q] = parseQueries('sum:a.b{env:prod, !role:db,az:us-*} by {host,az}.as_count().rollup(max, 60).fill(zero, 120)');
    assert.deepEqual(q, {
      kind: 'metric',
      aggregator: 'sum',
      metric: 'a.b',
      filters: [
        { tag: 'env:prod', negated: false },
        { tag: 'role:db', negated: true },
        { tag: 'az:us-*', negated: false },
      ],
      groupBy: ['host', 'az'],
      as: 'count',
      rollup: { aggregator: 'max', seconds: 60 },
      fill: { mode: 'zero', limitSeconds: 120 },
    });
    assert.deepEqual(parseMetricQuery('m'), { kind: 'metric', aggregator: 'avg', metric: 'm', filters: [], groupBy: [] });
    assert.deepEqual(parseMetricQuery('system.load.1.as_rate()'), {
      kind: 'metric',
      aggregator: 'avg',
      metric: 'system.load.1',
      filters: [],
      groupBy: [],
      as: 'rate',
    });
    assert.deepEqual(parseMetricQuery('avg:m{*}.rollup(30)').rollup, { seconds: 30 });
    assert.deepEqual(parseMetricQuery('avg:m{*}.rollup(sum)').rollup, { aggregator: 'sum' });
    assert.equal(parseMetricQuery('p95:dist{*}').aggregator, 'p95');
  });

  it('parses arithmetic with precedence, parentheses, constants and comma-separated queries', () => {
    const queries = parseQueries('avg:a{*} + avg:b{*} * 2, (sum:c{x:y} - 1) / -sum:d{*}');
    assert.equal(queries.length, 2);
    assert.equal(renderExpr(queries[0]!), 'avg:a{*} + (avg:b{*} * 2)');
    assert.equal(renderExpr(queries[1]!), '(sum:c{x:y} - 1) / -sum:d{*}');
  });

  it('refuses what is not the language with 400 INVALID_QUERY, saying where', () => {
    for (const bad of [
      '',
      '   ',
      'p42:m{*}',
      'avg:m{',
      'avg:{x}',
      'avg:m{*} by host',
      'avg:m{a}{b}',
      'm{*}.nope()',
      'm.rollup(sum, x)',
      'm.fill(sideways)',
      'm +',
      '(m',
      'm,',
      'm.as_count(1)',
      'm{a,,b}',
    ])
      invalid(bad);
    assert.throws(() => parseQueries('avg:m{*} by host'), /at character \d+/);
  });

  it('property: rendering any query and parsing it back gives the same query', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,6}(\.[a-z0-9_]{1,6}){0,2}$/);
    const tag = fc.stringMatching(/^[a-z][a-z0-9_]{0,5}(:[a-z0-9_\-/*]{1,6})?$/);
    const metric: fc.Arbitrary<MetricQuery> = fc.record(
      {
        kind: fc.constant('metric' as const),
        aggregator: fc.constantFrom('avg', 'sum', 'min', 'max', 'p50', 'p99'),
        metric: name,
        filters: fc.array(fc.record({ tag, negated: fc.boolean() }), { maxLength: 3 }),
        groupBy: fc.array(fc.stringMatching(/^[a-z][a-z_]{0,5}$/), { maxLength: 2 }),
        as: fc.constantFrom('count' as const, 'rate' as const),
        rollup: fc.oneof(
          fc.record({ aggregator: fc.constantFrom('avg', 'sum', 'min', 'max', 'count'), seconds: fc.integer({ min: 1, max: 86_400 }) }),
          fc.record({ aggregator: fc.constantFrom('avg', 'sum', 'min', 'max', 'count') }),
          fc.record({ seconds: fc.integer({ min: 1, max: 86_400 }) }),
        ),
        fill: fc.record(
          { mode: fc.constantFrom('null', 'zero', 'linear', 'last'), limitSeconds: fc.integer({ min: 1, max: 3600 }) },
          { requiredKeys: ['mode'] },
        ),
      },
      { requiredKeys: ['kind', 'aggregator', 'metric', 'filters', 'groupBy'] },
    ) as fc.Arbitrary<MetricQuery>;
    const expr: fc.Arbitrary<QueryExpr> = fc.letrec<{ e: QueryExpr }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        metric,
        fc.record({ kind: fc.constant('number' as const), value: fc.integer({ min: 0, max: 10_000 }) }),
        fc.record({ kind: fc.constant('negate' as const), operand: tie('e') }),
        fc.record({
          kind: fc.constant('binary' as const),
          op: fc.constantFrom('+' as const, '-' as const, '*' as const, '/' as const),
          left: tie('e'),
          right: tie('e'),
        }),
      ),
    })).e;
    fc.assert(
      fc.property(fc.array(expr, { minLength: 1, maxLength: 3 }), (queries) => {
        const text = queries.map((q) => renderExpr(q)).join(', ');
        // JSON: fast-check's records have no prototype.
        assert.deepEqual(JSON.parse(JSON.stringify(parseQueries(text))), JSON.parse(JSON.stringify(queries)), text);
      }),
      { numRuns: 300 },
    );
  });

  it('property: any text either parses or is refused with INVALID_QUERY (never another error)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'avgsum:m.{}(),*!-+/ 12by_x'.split('')), maxLength: 40 }), (text) => {
        try {
          parseQueries(text);
        } catch (error) {
          assert.ok(isRekeyError(error, 'INVALID_QUERY'), String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('metric query: evaluation', () => {
  it('filters by scope (host: is the host, ! negates, * wildcards), groups with N/A, aggregates per timestamp', () => {
    const points = [p('a', ['env:x', 'az:1'], 10, 1), p('b', ['env:x'], 10, 3), p('c', ['env:y', 'az:1'], 10, 100), p('a', ['env:x', 'az:1'], 20, 5)];
    const [all] = run('avg:m{env:x}', points);
    assert.deepEqual(all!.pointlist, [
      [10_000, 2],
      [20_000, 5],
    ]);
    assert.equal(all!.interval, 10);
    assert.equal(all!.expression, 'avg:m{env:x}');
    assert.equal(all!.scope, 'env:x');
    const byAz = run('max:m{*} by {az}', points);
    assert.deepEqual(
      byAz.map((s) => [s.tag_set, s.scope, s.expression, s.pointlist]),
      [
        [
          ['az:1'],
          'az:1',
          'max:m{az:1}',
          [
            [10_000, 100],
            [20_000, 5],
          ],
        ],
        [['az:N/A'], 'az:N/A', 'max:m{az:N/A}', [[10_000, 3]]],
      ],
    );
    assert.deepEqual(pointsOf('min:m{host:c}', points), [[[10_000, 100]]]);
    assert.deepEqual(pointsOf('sum:m{host:zzz}', points), []);
    assert.deepEqual(pointsOf('sum:m{!env:y}', points), [
      [
        [10_000, 4],
        [20_000, 5],
      ],
    ]);
    assert.deepEqual(pointsOf('sum:m{env:*,!host:a}', points), [[[10_000, 103]]]);
    assert.deepEqual(pointsOf('sum:m{host:a,env:x}', points), [
      [
        [10_000, 1],
        [20_000, 5],
      ],
    ]);
  });

  it('.as_count() and .as_rate() convert rate and count points by their interval', () => {
    const rates = [p('a', [], 10, 1.5, 'rate', 10), p('a', [], 20, 2, 'rate', 10)];
    assert.deepEqual(pointsOf('sum:m{*}.as_count()', rates), [
      [
        [10_000, 15],
        [20_000, 20],
      ],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}.as_rate()', rates), [
      [
        [10_000, 1.5],
        [20_000, 2],
      ],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}', rates), [
      [
        [10_000, 1.5],
        [20_000, 2],
      ],
    ]);
    const counts = [p('a', [], 10, 30, 'count', 10)];
    assert.deepEqual(pointsOf('sum:m{*}.as_rate()', counts), [[[10_000, 3]]]);
    assert.deepEqual(pointsOf('sum:m{*}.as_count()', counts), [[[10_000, 30]]]);
    // Gauges are unchanged.
    assert.deepEqual(pointsOf('sum:m{*}.as_count()', [p('a', [], 10, 7)]), [[[10_000, 7]]]);
  });

  it('.rollup(agg, seconds) rolls each series up in time before the space aggregation', () => {
    const points = [p('a', [], 0, 1), p('a', [], 30, 3), p('a', [], 60, 10), p('b', [], 0, 100), p('b', [], 45, 200)];
    assert.deepEqual(pointsOf('sum:m{*}.rollup(sum, 60)', points), [
      [
        [0, 304],
        [60_000, 10],
      ],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}.rollup(max, 60)', points), [
      [
        [0, 203],
        [60_000, 10],
      ],
    ]);
    assert.deepEqual(pointsOf('max:m{*}.rollup(avg, 60)', points), [
      [
        [0, 150],
        [60_000, 10],
      ],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}.rollup(count, 60)', points), [
      [
        [0, 4],
        [60_000, 1],
      ],
    ]);
    const [series] = run('sum:m{*}.rollup(sum, 60)', points);
    assert.equal(series!.interval, 60);
    // .rollup(agg) alone: Datadog's default interval for the window (an hour → 20 s).
    assert.equal(defaultRollupSeconds({ from: 0, to: 3600 }), 20);
    assert.equal(defaultRollupSeconds({ from: 0, to: 86_400 }), 300);
    assert.deepEqual(pointsOf('sum:m{host:a}.rollup(sum)', points), [
      [
        [0, 1],
        [20_000, 3],
        [60_000, 10],
      ],
    ]);
    // A rate counted over a rollup: 1.5/s × 10 s in each of two points of the same minute.
    assert.deepEqual(pointsOf('sum:m{*}.as_count().rollup(sum, 60)', [p('a', [], 0, 1.5, 'rate', 10), p('a', [], 10, 1.5, 'rate', 10)]), [[[0, 30]]]);
  });

  it('.fill() fills gaps up to its limit', () => {
    const points = [p('a', [], 0, 10), p('a', [], 10, 20), p('a', [], 40, 50), p('a', [], 1000, 0)];
    assert.deepEqual(pointsOf('sum:m{*}.fill(zero)', points)[0]!.slice(0, 5), [
      [0, 10],
      [10_000, 20],
      [20_000, 0],
      [30_000, 0],
      [40_000, 50],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}.fill(last)', points)[0]!.slice(2, 4), [
      [20_000, 20],
      [30_000, 20],
    ]);
    assert.deepEqual(pointsOf('sum:m{*}.fill(linear)', points)[0]!.slice(2, 4), [
      [20_000, 30],
      [30_000, 40],
    ]);
    // The 960 s gap to the last point is beyond the default 300 s limit: not filled.
    assert.equal(pointsOf('sum:m{*}.fill(zero)', points)[0]!.length, 6);
    assert.equal(pointsOf('sum:m{*}.fill(zero, 1000)', points)[0]!.length, 101);
    assert.equal(pointsOf('sum:m{*}.fill(null)', points)[0]!.length, 4);
  });

  it('arithmetic: between queries (by group, or one against many), with constants; division by zero leaves the point out', () => {
    const points = [
      p('a', ['role:web'], 10, 4, 'gauge', null, 'x'),
      p('b', ['role:db'], 10, 6, 'gauge', null, 'x'),
      p('a', ['role:web'], 10, 2, 'gauge', null, 'y'),
      p('b', ['role:db'], 10, 0, 'gauge', null, 'y'),
      p('a', ['role:web'], 20, 8, 'gauge', null, 'x'),
    ];
    assert.deepEqual(pointsOf('sum:x{*} + sum:y{*}', points), [[[10_000, 12]]]);
    const [sum] = run('sum:x{*} + sum:y{*}', points);
    assert.equal(sum!.expression, 'sum:x{*} + sum:y{*}');
    assert.equal(sum!.metric, 'sum:x{*} + sum:y{*}');
    assert.equal(sum!.aggr, null);
    assert.deepEqual(pointsOf('sum:x{*} * 2 - 1', points), [
      [
        [10_000, 19],
        [20_000, 15],
      ],
    ]);
    assert.deepEqual(pointsOf('100 / sum:x{*}', points), [
      [
        [10_000, 10],
        [20_000, 12.5],
      ],
    ]);
    assert.deepEqual(pointsOf('-sum:x{*}', points), [
      [
        [10_000, -10],
        [20_000, -8],
      ],
    ]);
    const ratio = run('sum:x{*} by {role} / sum:y{*} by {role}', points);
    assert.deepEqual(
      ratio.map((s) => [s.tag_set, s.expression, s.pointlist]),
      [
        [['role:db'], 'sum:x{role:db} / sum:y{role:db}', []],
        [['role:web'], 'sum:x{role:web} / sum:y{role:web}', [[10_000, 2]]],
      ],
    );
    assert.deepEqual(pointsOf('sum:x{*} by {host} / sum:x{*}', points), [
      [
        [10_000, 0.4],
        [20_000, 1],
      ],
      [[10_000, 0.6]],
    ]);
  });

  it('comma-separated queries give each series its query_index; a constant alone gives none', () => {
    const points = [p('a', [], 10, 1, 'gauge', null, 'x'), p('a', [], 10, 2, 'gauge', null, 'y')];
    const series = run('avg:x{*}, avg:y{*} by {host}, 42', points);
    assert.deepEqual(
      series.map((s) => [s.query_index, s.metric, s.aggr, s.tag_set]),
      [
        [0, 'x', 'avg', []],
        [1, 'y', 'avg', ['host:a']],
      ],
    );
  });

  it('percentiles are not answered from stored points (they belong to the sketch store)', () => {
    assert.throws(
      () => run('p95:m{*}', [p('a', [], 10, 1)]),
      (e) => isRekeyError(e, 'INVALID_QUERY'),
    );
  });

  it('evaluateMetricQuery: one metric over its points', () => {
    assert.deepEqual(evaluateMetricQuery(parseMetricQuery('sum:m{*}'), [p('a', [], 10, 1), p('b', [], 10, 2)])[0]!.pointlist, [[10_000, 3]]);
  });
});

describe('tag wildcards (globMatches)', () => {
  it('matches like a glob: * is any run, everything else literal', () => {
    assert.equal(globMatches('env:prod*', 'env:production'), true);
    assert.equal(globMatches('env:*', 'env:'), true);
    assert.equal(globMatches('a*b*c', 'axxbyyc'), true);
    assert.equal(globMatches('a*b*c', 'axxbyy'), false);
    assert.equal(globMatches('k:a.b', 'k:aXb'), false, 'a dot is literal');
    assert.equal(globMatches('*', ''), true);
  });
  it('agrees with an escaped RegExp on random short inputs', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/), (pattern, text) => {
        const regexp = new RegExp(`^${pattern.split('*').join('.*')}$`);
        return globMatches(pattern, text) === regexp.test(text);
      }),
    );
  });
  it('stays fast where a backtracking RegExp explodes (a*a*a*a*a*a*b against 150 a)', () => {
    const started = process.hrtime.bigint();
    assert.equal(globMatches('k:a*a*a*a*a*a*a*a*b', `k:${'a'.repeat(2000)}`), false);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1000, 'well under a second');
  });
});
