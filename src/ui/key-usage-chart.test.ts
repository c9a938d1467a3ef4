import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyUsageMinute } from '../store/store.js';
import { keyUsageChart } from './key-usage-chart.js';

const now = new Date('2026-01-01T12:00:30Z');
const minuteStart = Date.parse('2026-01-01T12:00:00Z');
const minuteAgo = (m: number, points: number, hosts: number): KeyUsageMinute => ({
  keyId: 'k',
  minute: new Date(minuteStart - m * 60_000),
  requests: 1,
  bytes: 100,
  points,
  hosts,
});

describe('keyUsageChart', () => {
  it('draws the real minutes: a rotation shows the old key falling and the new one rising, a pause shows as a dip', () => {
    // 60 minutes, 5-minute buckets. Old key: 2 hosts, 20 points/min until 30 min ago, then 1 host until 10 min ago.
    const oldKey: KeyUsageMinute[] = [];
    const newKey: KeyUsageMinute[] = [];
    for (let m = 59; m >= 0; m--) {
      if (m >= 30) oldKey.push(minuteAgo(m, 20, 2));
      else if (m >= 10) oldKey.push(minuteAgo(m, 10, 1));
      if (m < 30 && !(m >= 20 && m < 25)) newKey.push(minuteAgo(m, m < 10 ? 20 : 10, m < 10 ? 2 : 1)); // paused 20–24 min ago
    }
    const chart = keyUsageChart(
      [
        { label: 'old', minutes: oldKey },
        { label: 'new', minutes: newKey },
      ],
      { now, buckets: 12 },
    );
    assert.equal(chart.x.length, 12);
    assert.equal(chart.x[0], (minuteStart - 59 * 60_000) / 1000, 'from the first minute with use');
    assert.equal(chart.x[11], (minuteStart - 4 * 60_000) / 1000, 'the last bucket holds the current minute');
    const [oldHosts, oldPoints, newHosts, newPoints] = chart.series;
    assert.deepEqual(oldHosts!.values, [2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0]);
    assert.deepEqual(oldPoints!.values, [20, 20, 20, 20, 20, 20, 10, 10, 10, 10, 0, 0]);
    assert.deepEqual(newHosts!.values, [0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 2, 2]);
    assert.deepEqual(newPoints!.values, [0, 0, 0, 0, 0, 0, 10, 0, 10, 10, 20, 20], 'the pause is a dip, not an even spread');
  });

  it('spans at least ten minutes, averages points over a bucket, and is all zero without use', () => {
    const chart = keyUsageChart([{ label: 'k', minutes: [minuteAgo(0, 7, 3)] }], { now, buckets: 10 });
    assert.equal(chart.x[9]! - chart.x[0]!, 9 * 60);
    assert.deepEqual(chart.series[0]!.values, [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert.equal(chart.series[1]!.values[9], 7);
    const coarse = keyUsageChart([{ label: 'k', minutes: [minuteAgo(0, 7, 1), minuteAgo(1, 5, 3), minuteAgo(19, 1, 1)] }], { now, buckets: 10 });
    assert.equal(coarse.x[1]! - coarse.x[0]!, 120, '20 minutes in 10 buckets: 2 minutes each');
    assert.equal(coarse.series[1]!.values[9], 6, '(7 + 5) points over 2 minutes');
    assert.equal(coarse.series[0]!.values[9], 3, 'the most hosts of one minute');
    const empty = keyUsageChart([{ label: 'k', minutes: [] }], { now });
    assert.ok(empty.series.every((s) => s.values.every((v) => v === 0)));
    assert.equal(empty.x.length, 10, 'the default 60 buckets would be sub-minute: ten one-minute buckets instead');
  });
});
