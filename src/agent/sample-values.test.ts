import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SampleValues } from './sample-values.js';

test('keeps every value across chunks and sorts them numerically', () => {
  const values = new SampleValues();
  assert.deepEqual([...values.sorted()], []);
  const input = Array.from({ length: 10_000 }, (_, i) => ((i * 7919) % 10_007) - 5000.5);
  for (const v of input) values.push(v);
  assert.equal(values.length, input.length);
  assert.deepEqual(
    [...values.sorted()],
    [...input].sort((a, b) => a - b),
  );
});

test('fuzz: sorted() is the input sorted numerically', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 300 }), (input) => {
      const values = new SampleValues();
      for (const v of input) values.push(v);
      // -0 and 0 compare equal: compare as numbers, not as Object.is.
      assert.deepEqual(
        [...values.sorted()].map((v) => v + 0),
        [...input].sort((a, b) => a - b).map((v) => v + 0),
      );
    }),
    { numRuns: 500 },
  );
});
