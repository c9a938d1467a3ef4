/**
 * A careless admin removes a key's limits and sets them again (or sets a bytes/day limit on a
 * key that already sent bytes today): the node the key used forgets the key's own bytes of the
 * day — its counters are dropped with the limit and others' counts are read back from the store
 * as everything written minus what this node wrote — while another node, or this one after a
 * restart, counts them. Real app, real HTTP, the intake's clock injected (no sleeps).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { DIALECTS, type TestStore } from '../support/dialects.js';
import { listenLocal } from '../server/live-server.js';
import { headersFor, seedOrg, type SeededOrg } from '../server/seed.js';

const START = Date.UTC(2026, 0, 5, 12, 0, 15);

for (const dialect of DIALECTS) {
  describe(`a key's bytes/day after its limits are removed and set again, on ${dialect.name}`, () => {
    let db: TestStore;
    let hasher: KeyHasher;
    let acme: SeededOrg;
    let app: FastifyInstance | undefined;
    let url: string;
    const clock = { ms: START };
    const start = async () => {
      app = await buildApp({
        store: db.store,
        hasher,
        logger: false,
        intake: { now: () => clock.ms, usageMinutesFlushIntervalMs: 3_600_000, keyLimitsPollMs: 3_600_000 },
      });
      url = await listenLocal(app);
    };
    beforeEach(async () => {
      clock.ms = START;
      db = await dialect.createStore();
      hasher = createKeyHasher(await db.store.deploymentSecret());
      acme = await seedOrg(db.store, hasher, 'acme');
      await start();
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await db.destroy();
    });
    const body = JSON.stringify({ series: [{ metric: 'm', host: 'h', type: 'gauge', points: [[Math.floor(START / 1000) - 5, 1]] }] });
    const send = async () =>
      (await fetch(`${url}/api/v1/series`, { method: 'POST', headers: { 'dd-api-key': acme.apiSecret, 'content-type': 'application/json' }, body })).status;
    const setLimits = async (limits: Record<string, number>) => {
      const response = await fetch(`${url}/api/v2/api_keys/${acme.apiKey.id}/limits`, {
        method: 'PUT',
        headers: { ...headersFor(acme, 'admin'), 'content-type': 'application/json' },
        body: JSON.stringify({ limits }),
      });
      assert.equal(response.status, 200);
    };

    it('is still over the limit it was over, as after a restart', async () => {
      const limit = { bytes_per_day: 3 * Buffer.byteLength(body) };
      await setLimits(limit);
      for (let i = 0; i < 3; i++) assert.equal(await send(), 202);
      assert.equal(await send(), 429, 'the day is used up');
      clock.ms += 30_000;
      await setLimits({});
      await setLimits(limit);
      const afterReAdd = await send();
      await app!.close();
      await start();
      assert.equal(await send(), 429, 'after a restart: over, the day read back from the store');
      assert.equal(afterReAdd, 429, 'after removing and setting the same limit again: over, as after a restart');
    });
  });
}
