/**
 * The management API's responses against its own OpenAPI document, on SQLite and PostgreSQL
 * (Fastify `inject`). Every response of every call below must
 *  - have its status documented in `/api/openapi.json` for that path and method;
 *  - validate (Ajv) against the schema published there for that status (204: no body);
 *  - be, byte for byte, `JSON.stringify` of what the handler sent: a response schema makes
 *    Fastify serialise with fast-json-stringify, which silently drops any property the schema
 *    does not list (and writes required properties first), so a schema that forgets a
 *    property changes the response without any validation noticing.
 * The last tests check the calls covered every management operation and every error status.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { DIALECTS, type TestStore } from '../support/dialects.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface OpenApiResponse {
  description: string;
  content?: Record<string, { schema: object }>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, { tags?: string[]; responses: Record<string, OpenApiResponse> }>>;
}

/** The tags of the routes this suite covers. */
const MANAGEMENT_TAGS = ['API keys', 'Application keys', 'Audit'];

/** The API writes times with `Date#toISOString`: checked exactly, not just as RFC 3339. */
const ISO_DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

for (const dialect of DIALECTS) {
  describe(`management responses match /api/openapi.json on ${dialect.name}`, () => {
    let db: TestStore;
    let hasher: KeyHasher;
    let app: FastifyInstance;
    let acme: SeededOrg;
    let document: OpenApiDocument;
    const ajv = new Ajv({ allErrors: true, strict: true });
    ajv.addFormat('date-time', ISO_DATE_TIME);
    const validators = new Map<string, ValidateFunction>();
    /** `METHOD path status` of every response checked. */
    const checked = new Set<string>();
    /** What the last handler passed to `reply.send`, before serialisation. */
    let handed: unknown;

    /** The schema the document publishes for `method path status`, compiled once. */
    function validatorFor(method: Method, path: string, status: number): ValidateFunction | 'no body' {
      const operation = document.paths[path]?.[method.toLowerCase()];
      assert.ok(operation, `${method} ${path} is not in /api/openapi.json`);
      const response = operation.responses[String(status)];
      assert.ok(response, `${method} ${path} answered ${status}, which its entry in /api/openapi.json does not document`);
      const schema = response.content?.['application/json']?.schema;
      if (schema === undefined) return 'no body';
      const key = `${method} ${path} ${status}`;
      let validate = validators.get(key);
      if (validate === undefined) {
        validate = ajv.compile(schema);
        validators.set(key, validate);
      }
      return validate;
    }

    /**
     * Calls `method path` (`{id}` replaced by `id`) and checks the response against the
     * document; returns the parsed body.
     */
    async function call(
      method: Method,
      path: string,
      options: { id?: string; query?: string; headers?: Record<string, string>; body?: unknown; remoteAddress?: string } = {},
    ): Promise<{ status: number; body: any }> {
      const url = path.replace('{id}', options.id ?? '') + (options.query === undefined ? '' : `?${options.query}`);
      handed = undefined;
      const response = await app.inject({
        method,
        url,
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
        ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
      });
      const status = response.statusCode;
      const where = `${method} ${url} → ${status}`;
      const validate = validatorFor(method, path, status);
      checked.add(`${method} ${path} ${status}`);
      if (validate === 'no body') {
        assert.equal(response.body, '', `${where}: documented without a body`);
        return { status, body: undefined };
      }
      const body: unknown = response.json();
      assert.ok(validate(body), `${where}: ${ajv.errorsText(validate.errors)}\n${response.body}`);
      assert.equal(response.body, JSON.stringify(handed), `${where}: the serialised body is not what the handler sent`);
      return { status, body };
    }

    const as = (role: 'admin' | 'standard' | 'read_only') => headersFor(acme, role);

    before(async () => {
      db = await dialect.createStore();
      hasher = createKeyHasher(randomBytes(32));
      acme = await seedOrg(db.store, hasher, 'Acme');
      // Three failed authentications from one address throttle it: the 429 is reachable.
      app = await buildApp({ store: db.store, hasher, logger: false, authThrottle: { maxFailures: 3 } });
      app.addHook('preSerialization', async (_request, _reply, payload) => {
        handed = payload;
        return payload;
      });
      document = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as OpenApiDocument;
    });

    after(async () => {
      await app?.close();
      await db?.destroy();
    });

    it('API keys: create, list with include, get, rename, hosts, roll, revoke, restore', async () => {
      const include = 'include=created_by,modified_by';
      const created = await call('POST', '/api/v2/api_keys', {
        query: include,
        headers: as('admin'),
        body: { data: { type: 'api_keys', attributes: { name: 'web' } } },
      });
      assert.equal(created.status, 201);
      assert.equal(typeof created.body.data.attributes.key, 'string');
      assert.equal(created.body.included.length, 1);
      const id: string = created.body.data.id;

      for (const query of [include, 'sort=-created_at', `${include}&filter[status]=all&page[size]=1`]) {
        const listed = await call('GET', '/api/v2/api_keys', { query, headers: as('read_only') });
        assert.equal(listed.status, 200);
        assert.ok(listed.body.data.length > 0);
        assert.equal(typeof listed.body.meta.page.total_filtered_count, 'number');
      }
      assert.equal((await call('GET', '/api/v2/api_keys/{id}', { id, query: include, headers: as('standard') })).body.included.length, 1);
      // The seeded key was created by the CLI: its created_by is null.
      assert.equal(
        (await call('GET', '/api/v2/api_keys/{id}', { id: acme.apiKey.id, headers: as('read_only') })).body.data.relationships.created_by.data,
        null,
      );
      const renamed = await call('PATCH', '/api/v2/api_keys/{id}', {
        id,
        query: 'include=modified_by',
        headers: as('admin'),
        body: { data: { type: 'api_keys', id, attributes: { name: 'web 2' } } },
      });
      assert.equal(renamed.body.data.attributes.name, 'web 2');

      await db.store.recordKeyUsage([
        { keyId: id, host: 'web-1', firstSeen: new Date(Date.now() - 60_000), lastSeen: new Date(), points: 12, agentVersion: '7.50.0' },
        { keyId: id, host: 'web-2', firstSeen: new Date(Date.now() - 60_000), lastSeen: new Date(), points: 3 },
      ]);
      const hosts = await call('GET', '/api/v2/api_keys/{id}/hosts', { id, headers: as('read_only') });
      assert.deepEqual(hosts.body.data.map((h: { id: string }) => h.id).sort(), ['web-1', 'web-2']);
      assert.equal(
        (await call('GET', '/api/v2/api_keys/{id}/hosts', { id, query: 'filter[since]=2000-01-01T00:00:00Z', headers: as('read_only') })).status,
        200,
      );

      const rolled = await call('POST', '/api/v2/api_keys/{id}/roll', {
        id,
        headers: as('admin'),
        body: { data: { type: 'api_keys', attributes: { grace_period_seconds: 60 } } },
      });
      assert.equal(rolled.status, 201);
      assert.equal(rolled.body.data.relationships.rolled_from.data.id, id);
      assert.equal(rolled.body.included[0].id, id);
      assert.ok(rolled.body.included[0].attributes.expires_at);
      // Without grace_period_seconds, the default grace period.
      const rolledAgain = await call('POST', '/api/v2/api_keys/{id}/roll', {
        id: rolled.body.data.id,
        headers: as('admin'),
        body: { data: { attributes: { name: 'web 3' } } },
      });
      assert.equal(rolledAgain.status, 201);

      assert.equal((await call('DELETE', '/api/v2/api_keys/{id}', { id: rolledAgain.body.data.id, headers: as('admin') })).status, 204);
      const revoked = await call('GET', '/api/v2/api_keys/{id}', { id: rolledAgain.body.data.id, headers: as('read_only') });
      assert.equal(revoked.body.data.attributes.status, 'revoked');
      const restored = await call('POST', '/api/v2/api_keys/{id}/restore', { id: rolledAgain.body.data.id, query: include, headers: as('admin') });
      assert.equal(restored.status, 200);
      assert.equal(restored.body.data.attributes.status, 'active');
    });

    it("application keys: the caller's (create, list, get, change, delete) and the organization's", async () => {
      const created = await call('POST', '/api/v2/current_user/application_keys', {
        query: 'include=owned_by',
        headers: as('standard'),
        body: { data: { type: 'application_keys', attributes: { name: 'ci', scopes: ['api_keys_read'] } } },
      });
      assert.equal(created.status, 201);
      assert.equal(typeof created.body.data.attributes.key, 'string');
      const id: string = created.body.data.id;
      const plain = await call('POST', '/api/v2/current_user/application_keys', {
        headers: as('admin'),
        body: { data: { type: 'application_keys', attributes: { name: 'deploy' } } },
      });
      assert.equal(plain.body.data.attributes.scopes, null);

      for (const path of ['/api/v2/current_user/application_keys', '/api/v2/application_keys']) {
        assert.ok((await call('GET', path, { query: 'include=owned_by', headers: as('standard') })).body.included.length >= 1);
        assert.equal((await call('GET', path, { query: 'sort=-created_at&page[size]=2', headers: as('standard') })).status, 200);
        assert.equal((await call('GET', `${path}/{id}`, { id, query: 'include=owned_by', headers: as('standard') })).body.data.id, id);
        const changed = await call('PATCH', `${path}/{id}`, {
          id,
          headers: as('standard'),
          body: { data: { type: 'application_keys', id, attributes: { name: `ci ${path.length}`, scopes: null } } },
        });
        assert.equal(changed.body.data.attributes.scopes, null);
      }
      assert.equal(
        (await call('GET', '/api/v2/application_keys', { query: 'filter[owned_by]=nobody@nowhere.example', headers: as('read_only') })).body.meta.page
          .total_filtered_count,
        0,
      );

      assert.equal((await call('DELETE', '/api/v2/current_user/application_keys/{id}', { id, headers: as('standard') })).status, 204);
      assert.equal((await call('DELETE', '/api/v2/application_keys/{id}', { id: plain.body.data.id, headers: as('admin') })).status, 204);
    });

    it('API key usage and limits (rekey extensions): read, set, cleared', async () => {
      const id = acme.apiKey.id;
      const usage = await call('GET', '/api/v2/api_keys/{id}/usage', { id, headers: as('read_only') });
      assert.equal(usage.status, 200);
      assert.deepEqual(usage.body.minutes, []);
      assert.equal((await call('GET', '/api/v2/api_keys/{id}/usage', { id, query: 'from=100&to=50', headers: as('read_only') })).status, 400);
      assert.equal((await call('GET', '/api/v2/api_keys/{id}/limits', { id, headers: as('standard') })).body.limits.requests_per_second, null);
      const limits = { requests_per_second: 100, bytes_per_day: 5_000_000_000 };
      const set = await call('PUT', '/api/v2/api_keys/{id}/limits', { id, headers: as('admin'), body: { limits } });
      assert.deepEqual(set.body, { key_id: id, limits: { ...limits, points_per_minute: null } });
      assert.equal((await call('PUT', '/api/v2/api_keys/{id}/limits', { id, headers: as('standard'), body: { limits } })).status, 403);
      assert.equal(
        (await call('PUT', '/api/v2/api_keys/{id}/limits', { id, headers: as('admin'), body: { limits: { ...limits, requests_per_second: 0 } } })).status,
        400,
      );
      assert.equal((await call('GET', '/api/v2/api_keys/{id}/limits', { id: '00000000-0000-4000-8000-000000000000', headers: as('read_only') })).status, 404);
      assert.equal(
        (await call('PUT', '/api/v2/api_keys/{id}/limits', { id, headers: as('admin'), body: { limits: { ...limits, bytes_per_day: null } } })).status,
        400,
        'null is not a limit: leave it out',
      );
      const cleared = await call('PUT', '/api/v2/api_keys/{id}/limits', { id, headers: as('admin'), body: { limits: {} } });
      assert.equal(cleared.body.limits.bytes_per_day, null);
    });

    it('audit events, with every action the suite caused', async () => {
      const events = await call('GET', '/api/v2/audit/events', { query: 'page[size]=100', headers: as('admin') });
      assert.equal(events.status, 200);
      assert.equal(events.body.meta.status, 'done');
      const actions = new Set(events.body.data.map((e: { attributes: { attributes: { evt: { name: string } } } }) => e.attributes.attributes.evt.name));
      for (const action of ['api_key.create', 'api_key.roll', 'api_key.revoke', 'api_key.restore', 'app_key.update', 'app_key.delete'])
        assert.ok(actions.has(action), action);
      assert.equal(
        (await call('GET', '/api/v2/audit/events', { query: 'filter[query]=@evt.name:api_key.roll&filter[from]=now-1h', headers: as('admin') })).body.data
          .length,
        2,
      );
    });

    it('error bodies: 400, 403, 404 and 429', async () => {
      const unknownId = '00000000-0000-4000-8000-000000000000';
      const statusOf = async (...args: Parameters<typeof call>) => (await call(...args)).status;
      // 400: schema validation, a bad parameter, a rule of the store, an id mismatch.
      assert.equal(await statusOf('POST', '/api/v2/api_keys', { headers: as('admin'), body: { data: { attributes: {} } } }), 400);
      assert.equal(await statusOf('GET', '/api/v2/api_keys', { query: 'include=owner', headers: as('read_only') }), 400);
      assert.equal(await statusOf('GET', '/api/v2/api_keys/{id}', { id: 'x'.repeat(65), headers: as('read_only') }), 400);
      assert.equal(
        await statusOf('GET', '/api/v2/api_keys/{id}/hosts', { id: acme.apiKey.id, query: 'filter[since]=yesterday', headers: as('read_only') }),
        400,
      );
      assert.equal(await statusOf('POST', '/api/v2/api_keys/{id}/restore', { id: acme.apiKey.id, headers: as('admin') }), 400);
      assert.equal(
        await statusOf('PATCH', '/api/v2/api_keys/{id}', {
          id: acme.apiKey.id,
          headers: as('admin'),
          body: { data: { id: unknownId, attributes: { name: 'x' } } },
        }),
        400,
      );
      assert.equal(
        await statusOf('POST', '/api/v2/api_keys/{id}/roll', {
          id: acme.apiKey.id,
          headers: as('admin'),
          body: { data: { attributes: { grace_period_seconds: -1 } } },
        }),
        400,
      );
      assert.equal(await statusOf('GET', '/api/v2/audit/events', { query: 'filter[from]=last tuesday', headers: as('admin') }), 400);
      assert.equal(
        await statusOf('PATCH', '/api/v2/current_user/application_keys/{id}', { id: acme.users.admin.appKey.id, headers: as('admin'), body: {} }),
        400,
      );
      // 403: role.
      assert.equal(await statusOf('POST', '/api/v2/api_keys', { headers: as('standard'), body: { data: { attributes: { name: 'no' } } } }), 403);
      assert.equal(await statusOf('DELETE', '/api/v2/api_keys/{id}', { id: acme.apiKey.id, headers: as('read_only') }), 403);
      assert.equal(await statusOf('GET', '/api/v2/audit/events', { headers: as('standard') }), 403);
      assert.equal(
        await statusOf('POST', '/api/v2/current_user/application_keys', { headers: as('read_only'), body: { data: { attributes: { name: 'no' } } } }),
        403,
      );
      assert.equal(await statusOf('DELETE', '/api/v2/application_keys/{id}', { id: acme.users.admin.appKey.id, headers: as('standard') }), 403);
      // 404: unknown ids, another user's key through current_user.
      assert.equal(await statusOf('GET', '/api/v2/api_keys/{id}', { id: unknownId, headers: as('read_only') }), 404);
      assert.equal(await statusOf('POST', '/api/v2/api_keys/{id}/roll', { id: 'not-a-uuid', headers: as('admin'), body: {} }), 404);
      assert.equal(await statusOf('GET', '/api/v2/api_keys/{id}/hosts', { id: unknownId, headers: as('read_only') }), 404);
      assert.equal(await statusOf('GET', '/api/v2/current_user/application_keys/{id}', { id: acme.users.admin.appKey.id, headers: as('standard') }), 404);
      assert.equal(await statusOf('DELETE', '/api/v2/application_keys/{id}', { id: unknownId, headers: as('admin') }), 404);
      // The last active key without an expiry cannot be revoked: 400, on DELETE.
      const active = await call('GET', '/api/v2/api_keys', { query: 'page[size]=100', headers: as('read_only') });
      const revocable = active.body.data.filter((k: { id: string }) => k.id !== acme.apiKey.id);
      for (const key of revocable) await call('DELETE', '/api/v2/api_keys/{id}', { id: key.id, headers: as('admin') });
      assert.equal(await statusOf('DELETE', '/api/v2/api_keys/{id}', { id: acme.apiKey.id, headers: as('admin') }), 400);
      // 403 for unknown keys, then 429 once the address is throttled (with Retry-After).
      const wrongKeys = { 'dd-api-key': acme.apiSecret, 'dd-application-key': 'f'.repeat(40) };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push(await statusOf('GET', '/api/v2/audit/events', { headers: wrongKeys, remoteAddress: '192.0.2.7' }));
      assert.deepEqual(statuses, [403, 403, 403, 429]);
      // Even with the right keys; the refusal comes after the request is validated.
      assert.equal(await statusOf('GET', '/api/v2/api_keys', { headers: as('admin'), remoteAddress: '192.0.2.7' }), 429);
      assert.equal(
        await statusOf('POST', '/api/v2/api_keys/{id}/roll', { id: acme.apiKey.id, headers: as('admin'), body: {}, remoteAddress: '192.0.2.7' }),
        429,
      );
      const rename = { data: { attributes: { name: 'throttled' } } };
      assert.equal(
        await statusOf('PATCH', '/api/v2/application_keys/{id}', {
          id: acme.users.admin.appKey.id,
          headers: as('admin'),
          body: rename,
          remoteAddress: '192.0.2.7',
        }),
        429,
      );
    });

    it('the calls above covered every management operation of the document, and every error status', () => {
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (!MANAGEMENT_TAGS.includes(operation.tags?.[0] ?? '')) continue;
          const statuses = Object.keys(operation.responses);
          const success = statuses.find((s) => s.startsWith('2'));
          assert.ok(success, `${method} ${path} documents no success response`);
          assert.ok(checked.has(`${method.toUpperCase()} ${path} ${success}`), `${method.toUpperCase()} ${path} ${success} was not exercised`);
          for (const status of statuses) {
            const response = operation.responses[status]!;
            assert.ok(response.description && response.description !== 'Default Response', `${method} ${path} ${status} has no description`);
          }
        }
      }
      const errorStatuses = new Set([...checked].map((c) => c.split(' ')[2]).filter((s) => s !== undefined && s >= '400'));
      assert.deepEqual([...errorStatuses].sort(), ['400', '403', '404', '429']);
    });

    it('the published schemas reject bodies that break them (the checks above can fail)', () => {
      const validate = validatorFor('GET', '/api/v2/api_keys/{id}', 200);
      assert.ok(validate !== 'no body');
      const good = {
        data: {
          type: 'api_keys',
          id: acme.apiKey.id,
          attributes: {
            name: 'k',
            last4: 'abcd',
            category: 'default',
            created_at: '2026-01-01T00:00:00.000Z',
            modified_at: '2026-01-01T00:00:00.000Z',
            date_last_used: null,
            used_in_last_24_hours: false,
            remote_config_read_enabled: false,
            status: 'active',
            expires_at: null,
            revoked_at: null,
          },
          relationships: { created_by: { data: null }, modified_by: { data: { type: 'users', id: 'u' } } },
        },
      };
      assert.ok(validate(good), ajv.errorsText(validate.errors));
      const broken = structuredClone(good) as { data: Record<string, any> };
      delete broken.data.attributes.last4;
      assert.equal(validate(broken), false, 'a missing attribute');
      const badDate = structuredClone(good) as { data: Record<string, any> };
      badDate.data.attributes.created_at = 'yesterday';
      assert.equal(validate(badDate), false, 'a malformed date');
      const noData = {};
      assert.equal(validate(noData), false, 'no data');
      const errorSchema = validatorFor('GET', '/api/v2/api_keys/{id}', 404);
      assert.ok(errorSchema !== 'no body');
      assert.equal(errorSchema({ errors: 'Not found' }), false, 'errors must be an array');
    });
  });
}
