import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRekeyError } from '../errors.js';
import { evaluateMetricQuery, parseMetricQuery } from './metric-query.js';
import type { StoredPoint } from './point-store.js';

const p = (host: string, tags: string[], ts: number, value: number): StoredPoint => ({ orgId: 'o', metric: 'm', host, tags, ts, value, type: 'gauge', interval: null });

describe('metric query', () => {
  it('parses the supported subset', () => {
    assert.deepEqual(parseMetricQuery('avg:system.load.1{*}'), { aggregator: 'avg', metric: 'system.load.1', scope: [], groupBy: [] });
    assert.deepEqual(parseMetricQuery('sum:a.b{env:prod, role:web} by {host,az}'), { aggregator: 'sum', metric: 'a.b', scope: ['env:prod', 'role:web'], groupBy: ['host', 'az'] });
    assert.deepEqual(parseMetricQuery('m'), { aggregator: 'avg', metric: 'm', scope: [], groupBy: [] });
    for (const bad of ['', 'p50:m{*}', 'avg:m{', 'avg:{x}', 'avg:m{*} by host', 'avg:m{a}{b}']) {
      assert.throws(() => parseMetricQuery(bad), (e) => isRekeyError(e, 'INVALID_QUERY'), bad);
    }
  });

  it('filters by scope (host: matches the host), groups with N/A, aggregates per timestamp', () => {
    const points = [p('a', ['env:x', 'az:1'], 10, 1), p('b', ['env:x'], 10, 3), p('c', ['env:y', 'az:1'], 10, 100), p('a', ['env:x', 'az:1'], 20, 5)];
    const [all] = evaluateMetricQuery(parseMetricQuery('avg:m{env:x}'), points);
    assert.deepEqual(all!.pointlist, [[10_000, 2], [20_000, 5]]);
    assert.equal(all!.interval, 10);
    const byAz = evaluateMetricQuery(parseMetricQuery('max:m{*} by {az}'), points);
    assert.deepEqual(byAz.map((s) => [s.tag_set, s.pointlist]), [
      [['az:1'], [[10_000, 100], [20_000, 5]]],
      [['az:N/A'], [[10_000, 3]]],
    ]);
    assert.deepEqual(evaluateMetricQuery(parseMetricQuery('min:m{host:c}'), points)[0]!.pointlist, [[10_000, 100]]);
    assert.deepEqual(evaluateMetricQuery(parseMetricQuery('sum:m{host:zzz}'), points), []);
  });
});
