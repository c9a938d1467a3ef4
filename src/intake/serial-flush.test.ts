/** SerialFlush: flushes never overlap; a failed batch is put back, counted, reported and rejects. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteBehind } from './write-behind.js';

test('a failed batch is put back (merged with what came since), counted, reported, and written next time', async () => {
  const written: Array<Array<{ k: string; n: number }>> = [];
  const reported: unknown[] = [];
  let fail = true;
  let running = 0;
  let overlapped = false;
  const buffer = new WriteBehind<{ k: string; n: number }>({
    keyOf: (e) => e.k,
    merge: (pending, next) => (pending.n += next.n),
    write: async (entries) => {
      running += 1;
      if (running > 1) overlapped = true;
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
      if (fail) throw new Error('disk full');
      written.push(entries.map((e) => ({ ...e })));
    },
    onError: (error) => reported.push(error),
  });
  buffer.record({ k: 'a', n: 1 });
  const first = buffer.flush();
  buffer.record({ k: 'a', n: 2 }); // recorded while the failing write runs
  await assert.rejects(first, /disk full/);
  assert.deepEqual(buffer.stats, { flushes: 0, failures: 1 });
  assert.equal(reported.length, 1);
  fail = false;
  await Promise.all([buffer.flush(), buffer.flush()]);
  assert.equal(overlapped, false, 'flushes ran one at a time');
  assert.deepEqual(written, [[{ k: 'a', n: 3 }]]);
  assert.deepEqual(buffer.stats, { flushes: 1, failures: 1 });
});
