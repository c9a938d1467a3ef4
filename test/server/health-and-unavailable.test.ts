/**
 * In-process checks of what the PostgreSQL fault test (test/faults/postgres-restart.test.ts)
 * sees from outside: a store whose database stopped answering makes `/healthz` 503 (asked at
 * most once per second of the server's clock), `/livez` stays 200, and a management request
 * is a 503 DATABASE_UNAVAILABLE with Retry-After instead of a 500 "Internal error"; so is a web
 * UI page (the UI's own error page).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { asDatabaseUnavailable } from '../../src/store/postgres-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { createUser, signIn } from '../ui/ui-harness.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

describe('the server while its database is unreachable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-unavailable-'));
  let app: FastifyInstance;
  let store: Store;
  let seeded: SeededOrg;
  let down = false;
  let probes = 0;
  let clock = Date.parse('2026-11-30T12:00:00Z');
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

  before(async () => {
    store = await openStore({ dataDir: dir });
    const hasher = createKeyHasher(await store.deploymentSecret());
    seeded = await seedOrg(store, hasher, 'Acme');
    // The real store, except that every call fails as the PostgreSQL adapter fails when the
    // database is down: pg's ECONNREFUSED, converted by the adapter's guarded pool.
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (property === 'isInitialised') probes++;
          if (down && property !== 'close') return Promise.reject(asDatabaseUnavailable(refused()));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    app = await buildApp({ store: flaky, hasher, logger: false, now: () => new Date(clock) });
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('classifies connection failures, and only those, as DATABASE_UNAVAILABLE', () => {
    for (const error of [
      refused(),
      { code: '57P01', message: 'terminating connection due to administrator command' },
      { code: '57P03' },
      { code: '08006' },
      new Error('Connection terminated unexpectedly'),
      new AggregateError([refused()], ''),
    ]) {
      assert.equal(asDatabaseUnavailable(error)?.code, 'DATABASE_UNAVAILABLE', JSON.stringify(error));
    }
    for (const error of [
      { code: '23505', message: 'duplicate key' },
      // pg's answer to a query with more than 65,535 bind parameters (PostgreSQL 15, this machine): the connection stays usable.
      { code: '08P01', message: 'bind message has 4464 parameter formats but 0 parameters' },
      new Error('syntax error'),
      new TypeError('x is undefined'),
      null,
    ]) {
      assert.equal(asDatabaseUnavailable(error), undefined);
    }
  });

  it('/healthz: 200, then 503 with Retry-After once the probe fails, then 200 again; one probe per second', async () => {
    probes = 0;
    assert.deepEqual((await app.inject('/healthz')).json(), { status: 'ok', store: 'sqlite' });
    down = true;
    // Within the same second the cached answer stands, however many load balancers ask.
    for (let i = 0; i < 20; i++) assert.equal((await app.inject('/healthz')).statusCode, 200);
    assert.equal(probes, 1, 'one database query for 21 health checks within a second');
    clock += 1000;
    const unhealthy = await app.inject('/healthz');
    assert.equal(unhealthy.statusCode, 503);
    assert.equal(unhealthy.headers['retry-after'], '2');
    assert.equal(unhealthy.json().status, 'unavailable');
    assert.match(unhealthy.json().errors[0], /The database is unavailable right now \(connection refused\)/);
    assert.equal(probes, 2);
    assert.deepEqual((await app.inject('/livez')).json(), { status: 'ok' });
    down = false;
    clock += 1000;
    assert.equal((await app.inject('/healthz')).statusCode, 200);
  });

  it('a management request is 503 DATABASE_UNAVAILABLE with Retry-After, not 500', async () => {
    // Authenticate while the database answers (the key lookup), then fail the route's reads.
    down = true;
    const response = await app.inject({ method: 'GET', url: '/api/v2/api_keys', headers: headersFor(seeded, 'admin') });
    down = false;
    assert.equal(response.statusCode, 503, response.body);
    assert.equal(response.headers['retry-after'], '2');
    assert.deepEqual(response.json(), { errors: ['The database is unavailable right now (connection refused); retry in 2 s'] });
  });

  it("a web UI page is a 503 with Retry-After (the UI's error page), not a 500", async () => {
    const admin = await createUser(store, seeded.org.id, 'admin', 'ui-admin@acme.example');
    const browser = await signIn(app, admin);
    down = true;
    const page = await browser.get('/keys');
    down = false;
    assert.equal(page.statusCode, 503, page.body.slice(0, 300));
    assert.equal(page.headers['retry-after'], '2');
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /The database is unavailable right now/);
  });
});
