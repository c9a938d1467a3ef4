import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AGENT_GAMMA, AGENT_SKETCH_RELATIVE_ACCURACY, fromDogsketch, mergeDogsketch, newAgentSketch, toDogsketch } from './agent-sketch.js';

/** The value at rank ⌊q·(n−1)⌋ of the sorted values: what a quantile of the sketch approximates. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

test("the Agent's bins: γ = 1 + 2/128, bias 1338 (key 1 is the smallest value above 1e-9), round-to-even keys", () => {
  assert.equal(AGENT_GAMMA, 1.015625);
  const sketch = newAgentSketch();
  sketch.accept(1);
  // log_γ(1) = 0, so 1 is key 0 + bias.
  assert.deepEqual(toDogsketch(sketch, 10).k, [1338]);
  sketch.accept(-1);
  sketch.accept(0);
  assert.deepEqual(toDogsketch(sketch, 10).k, [-1338, 0, 1338]);
  assert.ok(AGENT_SKETCH_RELATIVE_ACCURACY < 0.01);
});

test('every quantile read back is within 1 % of the exact one, after a round trip through the wire form and a merge', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 400 }),
      fc.array(fc.double({ min: 1e-3, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 400 }),
      (a, b) => {
        const first = newAgentSketch();
        const second = newAgentSketch();
        for (const v of a) first.accept(v);
        for (const v of b) second.accept(v);
        const merged = fromDogsketch(toDogsketch(first, 0));
        mergeDogsketch(merged, toDogsketch(second, 10));
        const all = [...a, ...b].sort((x, y) => x - y);
        assert.equal(merged.count, all.length);
        for (const q of [0, 0.5, 0.75, 0.9, 0.95, 0.99, 1]) {
          const exact = exactQuantile(all, q);
          const read = merged.getValueAtQuantile(q);
          // Values closer to 0 than 1e-9 read as 0, as on Datadog.
          if (Math.abs(exact) < 1e-9) assert.equal(read, 0);
          else assert.ok(Math.abs(read - exact) <= 0.01 * Math.abs(exact), `q${q}: ${read} vs ${exact}`);
        }
        assert.equal(merged.min, all[0]);
        assert.equal(merged.max, all[all.length - 1]);
      },
    ),
    { numRuns: 200 },
  );
});

test('weights from sample rates are sent as whole counts that add up to the total', () => {
  const sketch = newAgentSketch();
  for (let i = 1; i <= 10; i++) sketch.accept(i, 1 / 0.3);
  const wire = toDogsketch(sketch, 0);
  assert.ok(wire.n.every((n) => Number.isInteger(n) && n > 0));
  assert.equal(wire.cnt, 33);
  assert.equal(
    wire.n.reduce((x, y) => x + y, 0),
    33,
  );
});
