/**
 * GET/PUT /api/v1/metrics/{metric_name} for every metric name the intake accepts: up to
 * MAX_METRIC_NAME characters, non-ASCII ones percent-encoded in the path. Fastify's default
 * path-parameter length (100) answered 414 for longer names. Real app, real HTTP, both dialects.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MAX_METRIC_NAME } from '../../src/intake/series-limits.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { DIALECTS, type TestStore } from '../support/dialects.js';
import { listenLocal } from './live-server.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

for (const dialect of DIALECTS) {
  describe(`metric metadata of long metric names on ${dialect.name}`, () => {
    let db: TestStore;
    let app: FastifyInstance;
    let url: string;
    let acme: SeededOrg;

    beforeEach(async () => {
      db = await dialect.createStore();
      const hasher = createKeyHasher(await db.store.deploymentSecret());
      acme = await seedOrg(db.store, hasher, 'acme');
      app = await buildApp({ store: db.store, hasher, logger: false });
      url = await listenLocal(app);
    });
    afterEach(async () => {
      await app.close();
      await db.destroy();
    });

    for (const [what, metric] of [
      ['ASCII', `m.${'x'.repeat(MAX_METRIC_NAME - 2)}`],
      ['non-ASCII (percent-encoded in the path)', `m.${'é'.repeat(MAX_METRIC_NAME - 2)}`],
    ] as const) {
      it(`a ${MAX_METRIC_NAME}-character ${what} name the intake stored can be read and edited`, async () => {
        const now = Math.floor(Date.now() / 1000);
        const sent = await fetch(`${url}/api/v1/series`, {
          method: 'POST',
          headers: { 'dd-api-key': acme.apiSecret, 'content-type': 'application/json' },
          body: JSON.stringify({ series: [{ metric, points: [[now, 1]], type: 'gauge' }] }),
        });
        assert.equal(sent.status, 202, await sent.text());
        const path = `${url}/api/v1/metrics/${encodeURIComponent(metric)}`;
        const read = await fetch(path, { headers: headersFor(acme, 'read_only') });
        assert.equal(read.status, 200, await read.clone().text());
        assert.equal(((await read.json()) as { type: string }).type, 'gauge');
        const edited = await fetch(path, {
          method: 'PUT',
          headers: { ...headersFor(acme, 'admin'), 'content-type': 'application/json' },
          body: JSON.stringify({ unit: 'byte' }),
        });
        assert.equal(edited.status, 200, await edited.clone().text());
        assert.equal(((await edited.json()) as { unit: string }).unit, 'byte');
        // null, as clients that send every field of their model send it, leaves a field unchanged.
        const nulls = await fetch(path, {
          method: 'PUT',
          headers: { ...headersFor(acme, 'admin'), 'content-type': 'application/json' },
          body: JSON.stringify({ unit: null, per_unit: null, description: 'bytes out' }),
        });
        assert.equal(nulls.status, 200, await nulls.clone().text());
        assert.deepEqual((await nulls.json()) as { unit: string; description: string }, {
          ...((await (await fetch(path, { headers: headersFor(acme, 'read_only') })).json()) as object),
          unit: 'byte',
          description: 'bytes out',
        });
      });
    }
  });
}
