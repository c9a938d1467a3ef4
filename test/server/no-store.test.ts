/**
 * A key or password shown once must not be kept by any cache: every answer of the key and
 * user routes carries `Cache-Control: no-store` (app.ts noStoreForKeyRoutes), and the
 * intake's answers, which carry no secret, pay nothing for it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { SQLITE, type TestStore } from '../support/dialects.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

describe('Cache-Control: no-store on answers that can carry a secret', () => {
  let db: TestStore;
  let app: FastifyInstance;
  let acme: SeededOrg;

  before(async () => {
    db = await SQLITE.createStore();
    const hasher = createKeyHasher(randomBytes(32));
    acme = await seedOrg(db.store, hasher, 'Acme');
    app = await buildApp({ store: db.store, hasher, logger: false });
  });
  after(async () => {
    await app?.close();
    await db?.destroy();
  });

  const call = (method: 'GET' | 'POST', url: string, body?: unknown, headers = headersFor(acme, 'admin')) =>
    app.inject({
      method,
      url,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });

  it('creating and rolling an API key, creating an application key, and reading keys and users', async () => {
    const created = await call('POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name: 'cached?' } } });
    assert.equal(created.statusCode, 201);
    assert.equal(created.headers['cache-control'], 'no-store');
    const id = (JSON.parse(created.body) as { data: { id: string } }).data.id;
    const rolled = await call('POST', `/api/v2/api_keys/${id}/roll`);
    assert.ok(rolled.statusCode < 300, rolled.body);
    assert.equal(rolled.headers['cache-control'], 'no-store');
    const appKey = await call('POST', '/api/v2/current_user/application_keys', { data: { type: 'application_keys', attributes: { name: 'cached?' } } });
    assert.equal(appKey.statusCode, 201);
    assert.equal(appKey.headers['cache-control'], 'no-store');
    for (const url of ['/api/v2/api_keys', '/api/v2/application_keys', '/api/v2/users']) {
      const listed = await call('GET', url);
      assert.equal(listed.statusCode, 200, url);
      assert.equal(listed.headers['cache-control'], 'no-store', url);
    }
    // A refusal too: the header does not depend on success.
    const refused = await call('POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name: 'x' } } }, headersFor(acme, 'read_only'));
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.headers['cache-control'], 'no-store');
  });

  it('the intake and the health check answer without it', async () => {
    const series = await app.inject({
      method: 'POST',
      url: '/api/v2/series',
      headers: { 'dd-api-key': acme.apiSecret, 'content-type': 'application/json' },
      payload: JSON.stringify({ series: [{ metric: 'm', type: 3, points: [{ timestamp: Math.floor(Date.now() / 1000), value: 1 }] }] }),
    });
    assert.equal(series.statusCode, 202, series.body);
    assert.equal(series.headers['cache-control'], undefined);
    const health = await app.inject({ method: 'GET', url: '/livez' });
    assert.equal(health.headers['cache-control'], undefined);
  });
});
