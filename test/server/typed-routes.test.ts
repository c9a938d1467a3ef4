/**
 * Typed key routes (issue 16 item 3): one TypeBox schema per route gives validation, types and
 * the OpenAPI document. Checks that the route files read request data only through those types
 * (no `as` casts), that the schemas still refuse and default as documented, and that the
 * parameters they declare are the ones published.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { SQLITE, type TestStore } from '../support/dialects.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

const root = new URL('../..', import.meta.url).pathname;
/** Every route file (found, so a new one is checked too) and the modules that read requests for them. */
const TYPED_FILES = [
  ...['src/server/routes', 'src/ui/routes', 'src/intake'].flatMap((dir) =>
    readdirSync(`${root}${dir}`)
      .filter((name) => /-routes?\.ts$/.test(name))
      .map((name) => `${dir}/${name}`),
  ),
  'src/server/management-auth.ts',
  'src/server/list-query.ts',
  'src/intake/intake-auth.ts',
];

describe('typed key routes', () => {
  let db: TestStore;
  let app: FastifyInstance;
  let acme: SeededOrg;

  before(async () => {
    db = await SQLITE.createStore();
    const hasher = createKeyHasher(Buffer.alloc(32, 3));
    acme = await seedOrg(db.store, hasher, 'Acme');
    app = await buildApp({ store: db.store, hasher, logger: false });
  });
  after(async () => {
    await app.close();
    await db.destroy();
  });

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url, headers: headersFor(acme, 'admin') });
    return { status: response.statusCode, body: response.json() };
  };

  it('no route file casts request data', () => {
    assert.ok(TYPED_FILES.length > 20, `found only ${TYPED_FILES.length} route files`);
    for (const file of TYPED_FILES) {
      const source = readFileSync(`${root}${file}`, 'utf8');
      assert.doesNotMatch(source, /request\.(query|params|body)\)?(\.[\w[\]'"]+)*\s+as\s/, file);
      assert.doesNotMatch(source, /\bRawListQuery\b|\bas RawListQuery\b/, file);
    }
    assert.doesNotMatch(readFileSync(`${root}src/server/app.ts`, 'utf8'), /as unknown as FastifyInstance/);
  });

  it('query schemas refuse, coerce and default as documented', async () => {
    // Bounds and enums: Ajv's message naming the parameter.
    const big = await get('/api/v2/api_keys?page[size]=101');
    assert.equal(big.status, 400);
    assert.match(big.body.errors[0], /page\[size\]/);
    const sort = await get('/api/v2/application_keys?sort=hash');
    assert.equal(sort.status, 400);
    assert.match(sort.body.errors[0], /sort/);
    // Dates are parsed by the route, with its own message.
    assert.deepEqual((await get('/api/v2/api_keys?filter[created_at][start]=yesterday')).body.errors, [
      'filter[created_at][start] is not a date; use ISO 8601 such as 2026-01-31T00:00:00Z',
    ]);
    const since = await get(`/api/v2/api_keys/${acme.apiKey.id}/hosts?filter[since]=soon`);
    assert.equal(since.status, 400);
    assert.match(since.body.errors[0], /filter\[since\] is not a date; use ISO 8601$/);
    // Coerced integers and defaults: page 0 of 10, sorted by name; page[limit] on the audit trail.
    const listed = await get('/api/v2/api_keys?page[number]=0&sort=-name');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.data.length, 1);
    const audit = await get('/api/v2/audit/events?page[limit]=2');
    assert.equal(audit.status, 200);
    assert.ok(audit.body.data.length <= 2);
    assert.equal((await get('/api/v2/audit/events?page[number]=-1')).status, 400);
  });

  it('the v1 reads (query, hosts) take typed parameters: refused by the schema, defaulted, and published', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const url of [
      `/api/v1/query?from=soon&to=${now}&query=avg:x{*}`,
      `/api/v1/query?from=${now}&to=${now}`,
      `/api/v1/query?from=${now}&to=${now}&query=`,
      '/api/v1/hosts?count=0',
      '/api/v1/hosts?count=1001',
      '/api/v1/hosts?start=-1',
      '/api/v1/hosts?from=yesterday',
    ]) {
      const refused = await get(url);
      assert.equal(refused.status, 400, url);
      assert.match(refused.body.errors[0], /querystring(\/(from|query|count|start) | must have required property 'query')/, url);
    }
    assert.deepEqual((await get(`/api/v1/query?from=${now}&to=${now - 1}&query=avg:x{*}`)).body.errors, ['"to" is before "from"']);
    const query = await get(`/api/v1/query?from=${now - 60}&to=${now}&query=avg:x{*}`);
    assert.equal(query.status, 200);
    assert.equal(query.body.from_date, (now - 60) * 1000);
    assert.deepEqual(query.body.series, []);
    const hosts = await get('/api/v1/hosts');
    assert.equal(hosts.status, 200);
    assert.deepEqual(hosts.body, { host_list: [], total_matching: 0, total_returned: 0 });
    const openapi = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const names = (path: string) => (openapi.paths[path].get.parameters ?? []).map((p: { name: string }) => p.name).sort();
    assert.deepEqual(names('/api/v1/query'), ['from', 'query', 'to']);
    assert.deepEqual(names('/api/v1/hosts'), ['count', 'filter', 'from', 'sort_dir', 'sort_field', 'start']);
    // The intake answers 202, and says so.
    for (const path of ['/api/v1/series', '/api/v2/series', '/api/v1/check_run', '/intake/']) {
      assert.deepEqual(Object.keys(openapi.paths[path].post.responses).sort(), ['202', '400', '403', '413', '415', '429', '503'], path);
    }
  });

  it('include= is a declared parameter wherever the route honours it', async () => {
    const openapi = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const names = (path: string, method: string) => (openapi.paths[path][method].parameters ?? []).map((p: { name: string }) => p.name);
    assert.ok(names('/api/v2/api_keys', 'post').includes('include'));
    assert.ok(names('/api/v2/api_keys/{id}', 'patch').includes('include'));
    assert.ok(names('/api/v2/api_keys/{id}/restore', 'post').includes('include'));
    assert.ok(names('/api/v2/current_user/application_keys', 'post').includes('include'));
    assert.ok(names('/api/v2/api_keys', 'get').includes('filter[created_at][start]'));
    // validate: the API key alone, its query parameter and its refusals documented, and answered so.
    assert.ok(names('/api/v1/validate', 'get').includes('api_key'));
    assert.deepEqual(openapi.paths['/api/v1/validate'].get.security, [{ apiKeyAuth: [] }]);
    assert.deepEqual(Object.keys(openapi.paths['/api/v1/validate'].get.responses).sort(), ['200', '403', '429']);
    const refused = await app.inject({ method: 'GET', url: '/api/v1/validate', headers: { 'dd-api-key': '0'.repeat(32) } });
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(refused.json(), { errors: ['Forbidden'] });
    // And honoured: the created key with its creator.
    const created = await app.inject({
      method: 'POST',
      url: '/api/v2/api_keys?include=created_by',
      headers: headersFor(acme, 'admin'),
      payload: { data: { type: 'api_keys', attributes: { name: 'typed' } } },
    });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().included[0].id, acme.users.admin.user.id);
  });
});
