/**
 * KeyLimits' holds (key-limits.ts), in memory with an injected clock: a decoded payload's points
 * are held against its key's points/min until settled (counted) or released (freed), so payloads
 * in flight together cannot all pass; a hold outlives the minute it was taken in and a limit
 * removed and set again; a body without a declared length is read one at a time under bytes/day.
 * Over HTTP, on both databases: test/intake/key-usage-and-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiKeyLimits, Store, StoredApiKeyLimits } from '../store/store.js';
import { KeyLimits } from './key-limits.js';

const START = Date.UTC(2026, 0, 5, 12, 0, 15);

function setup(limits: Partial<ApiKeyLimits>) {
  const clock = { ms: START };
  const rows: StoredApiKeyLimits[] = [
    { keyId: 'k', orgId: 'o', requestsPerSecond: null, pointsPerMinute: null, bytesPerDay: null, ...limits, updatedAt: new Date(START), updatedBy: null },
  ];
  const store = {
    listApiKeyLimits: () => Promise.resolve(rows),
    keyUsageTotals: () => Promise.resolve(new Map()),
  } as unknown as Store;
  const usage = { flushCurrent: () => Promise.resolve(), writtenOf: () => ({ minutePoints: 0, dayBytes: 0 }), unwritten: () => [] };
  const keyLimits = new KeyLimits(store, usage, { now: () => clock.ms, pollMs: 3_600_000 });
  return { clock, rows, keyLimits };
}

describe('KeyLimits: points held between decoding and storing', () => {
  it('refuses a payload once the points counted and held reach the limit; the one that crosses is taken', async () => {
    const { keyLimits } = setup({ pointsPerMinute: 1_000 });
    await keyLimits.refresh();
    assert.equal(keyLimits.admit('k', 100), undefined);
    assert.equal(keyLimits.admit('k', 100), undefined, 'both admitted before either body is read');
    const first = keyLimits.holdPoints('k', 1_500);
    assert.ok(first.held, 'nothing counted or held yet: taken, though it crosses the limit');
    const second = keyLimits.holdPoints('k', 1);
    assert.deepEqual(second.over, { limit: '1000 points per minute', retryAfterSeconds: 45 });
    assert.deepEqual(keyLimits.admit('k', 100), { limit: '1000 points per minute', retryAfterSeconds: 45 }, 'held points count before a body too');
    first.held.settle();
    first.held.settle();
    first.held.release();
    assert.ok(keyLimits.holdPoints('k', 1).over, 'settled once: counted, still over');
  });

  it('a released hold frees its points; a hold settled in the next minute counts there, and the minute roll-over keeps it', async () => {
    const { clock, keyLimits } = setup({ pointsPerMinute: 1_000 });
    await keyLimits.refresh();
    const failed = keyLimits.holdPoints('k', 1_000).held!;
    assert.ok(keyLimits.holdPoints('k', 1).over);
    failed.release(); // the write failed (503): sent again later
    const stored = keyLimits.holdPoints('k', 999).held!;
    clock.ms += 45_000; // the next minute, the payload still in flight
    assert.ok(keyLimits.holdPoints('k', 1).held, '999 held in the new minute: 1 point left');
    assert.ok(keyLimits.holdPoints('k', 1).over, '1,000 held');
    stored.settle();
    assert.ok(keyLimits.holdPoints('k', 1).over, 'counted in the minute it was stored in');
  });

  it('a key without a points limit always gets a hold; a limit removed and set again while a hold is out is not disturbed by it', async () => {
    const { rows, keyLimits } = setup({});
    await keyLimits.refresh();
    assert.ok(keyLimits.holdPoints('k', 10 ** 9).held);
    rows[0]!.pointsPerMinute = 10;
    await keyLimits.refresh();
    const held = keyLimits.holdPoints('k', 5).held!;
    rows.length = 0;
    await keyLimits.refresh(); // removed: the key's counters go
    rows.push({ keyId: 'k', orgId: 'o', requestsPerSecond: null, pointsPerMinute: 10, bytesPerDay: null, updatedAt: new Date(START), updatedBy: null });
    await keyLimits.refresh();
    held.release(); // on the counters it was taken on, not the new ones
    assert.ok(keyLimits.holdPoints('k', 9).held);
    assert.ok(keyLimits.holdPoints('k', 1).held, '9 held of 10: one point left');
    assert.ok(keyLimits.holdPoints('k', 1).over);
  });
});

describe('KeyLimits: bodies without a declared length under bytes/day', () => {
  it('are read one at a time per key; an abandoned read lets the next in', async () => {
    const { keyLimits } = setup({ bytesPerDay: 1_000 });
    await keyLimits.refresh();
    assert.equal(keyLimits.admit('k', 0), undefined);
    assert.deepEqual(keyLimits.admit('k', 0), { limit: '1000 bytes per day', retryAfterSeconds: 1 });
    assert.equal(keyLimits.admit('k', 100), undefined, 'a declared length is counted at once, not waited on');
    keyLimits.countBytes('k', undefined); // the first never finished
    assert.equal(keyLimits.admit('k', 0), undefined);
    keyLimits.countBytes('k', 950);
    assert.deepEqual(keyLimits.admit('k', 0), { limit: '1000 bytes per day', retryAfterSeconds: 43_185 }, 'read: 1,050 of 1,000, until the UTC day ends');
  });
});
