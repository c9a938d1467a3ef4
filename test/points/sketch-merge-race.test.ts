/**
 * Distribution points sent in many payloads for one series and bucket all count
 * (SketchStore.mergeWrite), however they interleave: 40 payloads of 25 values each, written at
 * once through two stores on the same database (two nodes), must read back as 1,000 values —
 * on SQLite and on PostgreSQL. Without the transaction and its per-metric lock, writers that
 * read the same stored sketch each keep only their own merge and values are lost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromDogsketch, mergeDogsketch, newAgentSketch, toDogsketch, type Dogsketch } from '../../src/points/agent-sketch.js';
import { SketchStore } from '../../src/points/sketch-store.js';
import { CLI_ACTOR, DIALECTS } from '../support/dialects.js';

const merge = (stored: Dogsketch, fresh: Dogsketch): Dogsketch => {
  const merged = fromDogsketch(stored);
  mergeDogsketch(merged, fresh);
  return toDogsketch(merged, fresh.ts);
};

for (const dialect of DIALECTS) {
  describe(`distribution sketches on ${dialect.name}`, () => {
    it('counts every value when payloads for one bucket are merged at the same time on two nodes', { timeout: 120_000 }, async () => {
      const db = await dialect.createStore();
      try {
        const org = await db.store.createOrg('Acme', CLI_ACTOR);
        const nodes = [new SketchStore(db.store.sharedTables()), new SketchStore((await db.openAnother({ maxConnections: 8 })).sharedTables())];
        const ts = 1_700_000_000;
        const payload = (n: number) => {
          const sketch = newAgentSketch();
          for (let v = 1; v <= 25; v++) sketch.accept(n * 25 + v);
          return [{ metric: 'latency', host: 'web-1', tags: ['env:prod'], sketch: toDogsketch(sketch, ts) }];
        };
        await Promise.all(Array.from({ length: 40 }, (_, n) => nodes[n % 2]!.mergeWrite(org.id, payload(n), merge)));
        const stored = await nodes[0]!.query(org.id, 'latency', ts, ts);
        assert.equal(stored.length, 1);
        assert.equal(stored[0]!.sketch.cnt, 1000);
        assert.equal(stored[0]!.sketch.min, 1);
        assert.equal(stored[0]!.sketch.max, 1000);
        assert.equal(stored[0]!.sketch.sum, (1000 * 1001) / 2);
      } finally {
        await db.destroy();
      }
    });
  });
}
