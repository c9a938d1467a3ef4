import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyHostUsage } from '../store/store.js';
import { keyUsageChart } from './key-usage-chart.js';

const now = new Date('2026-01-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
const usage = (host: string, from: number, to: number, points: number): KeyHostUsage => ({
  keyId: 'k', host, firstSeen: minutesAgo(from), lastSeen: minutesAgo(to), points, agentVersion: null,
});

describe('keyUsageChart', () => {
  it('shows a rotation: the old key loses its hosts as the new key gains them', () => {
    // Two hosts on the old key for an hour; host a moves to the new key 30 min ago, b 10 min ago.
    const oldKey = [usage('a', 60, 30, 300), usage('b', 60, 10, 500)];
    const newKey = [usage('a', 30, 0, 300), usage('b', 10, 0, 100)];
    const chart = keyUsageChart([{ label: 'old', hosts: oldKey }, { label: 'new', hosts: newKey }], { now, buckets: 12 });
    assert.equal(chart.x.length, 12);
    assert.equal(chart.x[0], Math.floor(minutesAgo(60).getTime() / 1000));
    const [oldHosts, oldPoints, newHosts] = chart.series;
    // 5-minute buckets; a sighting on a bucket's first instant counts in that bucket.
    assert.deepEqual(oldHosts!.values, [2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0]);
    assert.deepEqual(newHosts!.values, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    // Points are spread evenly: a sent 300 points in 30 min on the old key, b 500 in 50 min: 10/min each.
    assert.equal(oldPoints!.values[0], 10 + 10);
    assert.equal(chart.series[3]!.values[11], 10 + 10);
    assert.equal(oldPoints!.values[8], 10);
  });

  it('spans at least ten minutes, counts a single sighting in its bucket, and is empty without hosts', () => {
    const chart = keyUsageChart([{ label: 'k', hosts: [usage('a', 0, 0, 7)] }], { now, buckets: 10 });
    assert.equal(chart.x[9]! - chart.x[0]!, 9 * 60);
    assert.deepEqual(chart.series[0]!.values, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(chart.series[1]!.values[9], 7);
    const empty = keyUsageChart([{ label: 'k', hosts: [] }], { now });
    assert.ok(empty.series.every((s) => s.values.every((v) => v === 0)));
  });
});
