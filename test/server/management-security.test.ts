/**
 * Security tests of the management API, per route, on SQLite and PostgreSQL (Fastify
 * `inject`): tenant isolation, role checks, revoked and expired keys, throttling of failed
 * authentication, error bodies, and — over everything the suite did — no key in any log
 * line or error body.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generateKey } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { createServerLogger } from '../../src/server/logger.js';
import type { Role, Store } from '../../src/store/store.js';
import { DIALECTS, type TestStore } from '../support/dialects.js';
import { logLinesSink } from '../support/log-lines.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

const LAST_KEY_MESSAGE = "It isn't possible to have zero API keys. Create a new API key before revoking this one.";

interface Answer {
  status: number;
  body: any;
  headers: Record<string, unknown>;
  raw: string;
}

/** A Store whose key lookups are counted, to show malformed keys cost no lookup. */
function countingStore(store: Store, counts: { lookups: number }): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'findApiKeyByHash' || property === 'findAppKeyByHash') {
        return (...args: unknown[]) => {
          counts.lookups++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const dialect of DIALECTS) {
  describe(`management API security on ${dialect.name}`, () => {
    let db: TestStore;
    let hasher: KeyHasher;
    let app: FastifyInstance;
    let acme: SeededOrg;
    let globex: SeededOrg;
    /** Every log line the app wrote. */
    const logLines: string[] = [];
    /** Every response body that is not a successful create/roll (those carry the new key once). */
    const bodiesWithoutSecrets: string[] = [];
    /** Every plaintext key created during the suite. */
    const secrets: string[] = [];
    const counts = { lookups: 0 };
    let clockOffsetMs = 0;

    async function call(
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      options: { headers?: Record<string, string>; body?: unknown; payload?: string; remoteAddress?: string; target?: FastifyInstance } = {},
    ): Promise<Answer> {
      const response = await (options.target ?? app).inject({
        method,
        url,
        headers: { ...(options.body !== undefined || options.payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
        ...(options.payload !== undefined ? { payload: options.payload } : {}),
        ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
      });
      const raw = response.body;
      const body = raw === '' ? undefined : response.headers['content-type']?.toString().includes('json') ? JSON.parse(raw) : raw;
      const carriesNewKey = response.statusCode === 201;
      if (carriesNewKey) {
        const key = body?.data?.attributes?.key;
        if (typeof key === 'string') secrets.push(key);
      } else {
        bodiesWithoutSecrets.push(raw);
      }
      return { status: response.statusCode, body, headers: response.headers, raw };
    }

    const as = (org: SeededOrg, role: Role) => ({ headers: headersFor(org, role) });

    before(async () => {
      db = await dialect.createStore();
      hasher = createKeyHasher(randomBytes(32));
      acme = await seedOrg(db.store, hasher, 'Acme');
      globex = await seedOrg(db.store, hasher, 'Globex');
      secrets.push(...acme.secrets, ...globex.secrets);
      const stream = logLinesSink(logLines);
      app = await buildApp({
        store: countingStore(db.store, counts),
        hasher,
        logger: createServerLogger({ level: 'debug', stream }),
        now: () => new Date(Date.now() + clockOffsetMs),
        // High enough that the suite's deliberate failures do not trip it (tested separately).
        authThrottle: { maxFailures: 1000 },
      });
    });

    after(async () => {
      await app?.close();
      await db?.destroy();
    });

    describe('authentication', () => {
      it('validate accepts an active API key (header or api_key query) and refuses others with 403 Forbidden', async () => {
        assert.deepEqual((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': acme.apiSecret } })).body, { valid: true });
        assert.deepEqual((await call('GET', `/api/v1/validate?api_key=${acme.apiSecret}`)).body, { valid: true });
        for (const bad of ['', 'nope', generateKey('api'), `"${acme.apiSecret}"`, acme.apiSecret.toUpperCase(), acme.users.admin.appSecret]) {
          const answer = await call('GET', '/api/v1/validate', { headers: bad === '' ? {} : { 'dd-api-key': bad } });
          assert.equal(answer.status, 403, `key variant ${bad.length} chars`);
          assert.deepEqual(answer.body, { errors: ['Forbidden'] });
        }
      });

      it('a malformed API or application key is refused without any database lookup', async () => {
        const before = counts.lookups;
        const attempts: Record<string, string>[] = [
          { 'dd-api-key': 'x'.repeat(32), 'dd-application-key': acme.users.admin.appSecret },
          { 'dd-api-key': acme.apiSecret, 'dd-application-key': acme.users.admin.appSecret.slice(0, 39) + 'g' },
          { 'dd-api-key': acme.apiSecret },
        ];
        for (const headers of attempts) {
          assert.equal((await call('GET', '/api/v2/api_keys', { headers })).status, 403);
        }
        assert.equal(counts.lookups, before);
        // A well-formed key is looked up.
        assert.equal((await call('GET', '/api/v2/api_keys', as(acme, 'read_only'))).status, 200);
        assert.ok(counts.lookups > before);
      });

      it("another organisation's application key with this API key is refused", async () => {
        const answer = await call('GET', '/api/v2/api_keys', { headers: { 'dd-api-key': acme.apiSecret, 'dd-application-key': globex.users.admin.appSecret } });
        assert.equal(answer.status, 403);
        assert.deepEqual(answer.body, { errors: ['Forbidden'] });
      });

      it('a revoked API key is refused by the very next request, and works again once restored', async () => {
        const created = await call('POST', '/api/v2/api_keys', {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { name: 'to revoke' } } },
        });
        assert.equal(created.status, 201);
        const key: string = created.body.data.attributes.key;
        const id: string = created.body.data.id;
        const withKey = { headers: { 'dd-api-key': key, 'dd-application-key': acme.users.admin.appSecret } };
        assert.equal((await call('GET', '/api/v2/api_keys', withKey)).status, 200);
        assert.equal((await call('DELETE', `/api/v2/api_keys/${id}`, as(acme, 'admin'))).status, 204);
        assert.equal((await call('GET', '/api/v2/api_keys', withKey)).status, 403);
        assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': key } })).status, 403);

        const readBack = await call('GET', `/api/v2/api_keys/${id}`, as(acme, 'read_only'));
        assert.equal(readBack.status, 200);
        assert.equal(readBack.body.data.attributes.status, 'revoked');
        assert.equal(readBack.body.data.attributes.key, undefined);
        assert.ok(readBack.body.data.attributes.revoked_at);
        const listed = await call('GET', '/api/v2/api_keys?page[size]=100', as(acme, 'read_only'));
        assert.ok(!listed.body.data.some((k: { id: string }) => k.id === id), 'a revoked key drops out of the list');
        const all = await call('GET', '/api/v2/api_keys?page[size]=100&filter[status]=all', as(acme, 'read_only'));
        assert.ok(all.body.data.some((k: { id: string }) => k.id === id));

        const restored = await call('POST', `/api/v2/api_keys/${id}/restore`, as(acme, 'admin'));
        assert.equal(restored.status, 200);
        assert.equal(restored.body.data.attributes.status, 'active');
        assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': key } })).status, 200);
        assert.equal((await call('POST', `/api/v2/api_keys/${id}/restore`, as(acme, 'admin'))).status, 400, 'nothing to restore');
        // Many clients send Content-Type: application/json on a body-less DELETE.
        assert.equal((await call('DELETE', `/api/v2/api_keys/${id}`, { ...as(acme, 'admin'), payload: '' })).status, 204);
      });

      it('a rolled key keeps working during its grace period and is refused once expired', async () => {
        const created = await call('POST', '/api/v2/api_keys', { ...as(acme, 'admin'), body: { data: { type: 'api_keys', attributes: { name: 'to roll' } } } });
        const oldKey: string = created.body.data.attributes.key;
        const rolled = await call('POST', `/api/v2/api_keys/${created.body.data.id}/roll`, {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { grace_period_seconds: 60 } } },
        });
        assert.equal(rolled.status, 201);
        const newKey: string = rolled.body.data.attributes.key;
        assert.notEqual(newKey, oldKey);
        assert.equal(rolled.body.data.relationships.rolled_from.data.id, created.body.data.id);
        const previous = rolled.body.included[0];
        assert.equal(previous.id, created.body.data.id);
        const expiresAt = Date.parse(previous.attributes.expires_at);
        assert.ok(Math.abs(expiresAt - (Date.now() + 60_000)) < 10_000, 'old key expires after the grace period');
        assert.equal(previous.attributes.key, undefined);

        assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': oldKey } })).status, 200);
        clockOffsetMs = 61_000;
        try {
          assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': oldKey } })).status, 403);
          const management = await call('GET', '/api/v2/api_keys', { headers: { 'dd-api-key': oldKey, 'dd-application-key': acme.users.admin.appSecret } });
          assert.equal(management.status, 403);
          assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': newKey } })).status, 200);
        } finally {
          clockOffsetMs = 0;
        }
        await call('DELETE', `/api/v2/api_keys/${rolled.body.data.id}`, as(acme, 'admin'));
      });

      it('a roll without a body uses the default grace period of a day', async () => {
        const created = await call('POST', '/api/v2/api_keys', {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { name: 'roll me bare' } } },
        });
        const rolled = await call('POST', `/api/v2/api_keys/${created.body.data.id}/roll`, as(acme, 'admin'));
        assert.equal(rolled.status, 201, JSON.stringify(rolled.body));
        const expiresAt = Date.parse(rolled.body.included[0].attributes.expires_at);
        assert.ok(Math.abs(expiresAt - (Date.now() + 24 * 3600_000)) < 10_000, 'old key expires after the default day');
        await call('DELETE', `/api/v2/api_keys/${rolled.body.data.id}`, as(acme, 'admin'));
        await call('DELETE', `/api/v2/api_keys/${created.body.data.id}`, as(acme, 'admin'));
      });

      it('a disabled user or deleted application key is refused', async () => {
        const created = await call('POST', '/api/v2/current_user/application_keys', {
          ...as(acme, 'standard'),
          body: { data: { type: 'application_keys', attributes: { name: 'short-lived' } } },
        });
        assert.equal(created.status, 201);
        const headers = { 'dd-api-key': acme.apiSecret, 'dd-application-key': created.body.data.attributes.key as string };
        assert.equal((await call('GET', '/api/v2/api_keys', { headers })).status, 200);
        assert.equal((await call('DELETE', `/api/v2/current_user/application_keys/${created.body.data.id}`, { headers })).status, 204);
        assert.equal((await call('GET', '/api/v2/api_keys', { headers })).status, 403);
      });
    });

    describe("tenant isolation: another organisation's object is 404", () => {
      it('API key routes', async () => {
        const id = acme.apiKey.id;
        const globexAdmin = as(globex, 'admin');
        const rename = { data: { type: 'api_keys', id, attributes: { name: 'stolen' } } };
        for (const [method, url, body] of [
          ['GET', `/api/v2/api_keys/${id}`],
          ['PATCH', `/api/v2/api_keys/${id}`, rename],
          ['DELETE', `/api/v2/api_keys/${id}`],
          ['POST', `/api/v2/api_keys/${id}/roll`, { data: { type: 'api_keys', attributes: { grace_period_seconds: 0 } } }],
          ['POST', `/api/v2/api_keys/${id}/restore`],
          ['GET', `/api/v2/api_keys/${id}/hosts`],
        ] as const) {
          const answer = await call(method, url, { ...globexAdmin, ...(body === undefined ? {} : { body }) });
          assert.equal(answer.status, 404, `${method} ${url}`);
          assert.deepEqual(answer.body, { errors: ['API key not found'] });
        }
        const list = await call('GET', '/api/v2/api_keys?page[size]=100', globexAdmin);
        assert.ok(list.body.data.every((k: { id: string }) => k.id !== id));
        const stillThere = await call('GET', `/api/v2/api_keys/${id}`, as(acme, 'read_only'));
        assert.equal(stillThere.body.data.attributes.name, 'Acme first key');
        assert.equal(stillThere.body.data.attributes.status, 'active');
      });

      it('application key routes', async () => {
        const id = acme.users.standard.appKey.id;
        for (const base of ['/api/v2/application_keys', '/api/v2/current_user/application_keys']) {
          for (const [method, body] of [['GET'], ['PATCH', { data: { type: 'application_keys', id, attributes: { name: 'stolen' } } }], ['DELETE']] as const) {
            const answer = await call(method, `${base}/${id}`, { ...as(globex, 'admin'), ...(body === undefined ? {} : { body }) });
            assert.equal(answer.status, 404, `${method} ${base}`);
            assert.deepEqual(answer.body, { errors: ['Application key not found'] });
          }
        }
        const list = await call('GET', '/api/v2/application_keys?page[size]=100', as(globex, 'admin'));
        assert.ok(list.body.data.length >= 3);
        assert.ok(
          list.body.data.every((k: { relationships: { owned_by: { data: { id: string } } } }) =>
            Object.values(globex.users).some((u) => u.user.id === k.relationships.owned_by.data.id),
          ),
        );
        const byOwner = await call('GET', `/api/v2/application_keys?filter[owned_by]=${acme.users.admin.user.id}`, as(globex, 'admin'));
        assert.equal(byOwner.body.data.length, 0);
      });

      it('audit events', async () => {
        const answer = await call('GET', '/api/v2/audit/events?page[size]=100', as(globex, 'admin'));
        assert.equal(answer.status, 200);
        assert.ok(answer.body.data.every((e: { attributes: { attributes: { org: { id: string } } } }) => e.attributes.attributes.org.id === globex.org.id));
      });
    });

    describe('roles', () => {
      const newKeyBody = { data: { type: 'api_keys', attributes: { name: 'role test' } } };

      it('read_only may read but every write is 403', async () => {
        const ro = as(acme, 'read_only');
        const id = acme.apiKey.id;
        assert.equal((await call('GET', '/api/v2/api_keys', ro)).status, 200);
        assert.equal((await call('GET', `/api/v2/api_keys/${id}`, ro)).status, 200);
        assert.equal((await call('GET', `/api/v2/api_keys/${id}/hosts`, ro)).status, 200);
        assert.equal((await call('GET', '/api/v2/application_keys', ro)).status, 200);
        assert.equal((await call('GET', '/api/v2/current_user/application_keys', ro)).status, 200);
        for (const [method, url, body] of [
          ['POST', '/api/v2/api_keys', newKeyBody],
          ['PATCH', `/api/v2/api_keys/${id}`, { data: { type: 'api_keys', id, attributes: { name: 'x' } } }],
          ['DELETE', `/api/v2/api_keys/${id}`],
          ['POST', `/api/v2/api_keys/${id}/roll`, { data: { type: 'api_keys', attributes: {} } }],
          ['POST', `/api/v2/api_keys/${id}/restore`],
          ['POST', '/api/v2/current_user/application_keys', { data: { type: 'application_keys', attributes: { name: 'x' } } }],
          [
            'PATCH',
            `/api/v2/current_user/application_keys/${acme.users.read_only.appKey.id}`,
            { data: { type: 'application_keys', attributes: { name: 'x' } } },
          ],
          ['DELETE', `/api/v2/application_keys/${acme.users.read_only.appKey.id}`],
        ] as const) {
          const answer = await call(method, url, { ...ro, ...(body === undefined ? {} : { body }) });
          assert.equal(answer.status, 403, `${method} ${url}`);
          assert.match(answer.body.errors[0], /^Forbidden: .* needs the /);
        }
        assert.equal((await call('GET', '/api/v2/audit/events', ro)).status, 403);
        const unchanged = await call('GET', `/api/v2/api_keys/${id}`, ro);
        assert.equal(unchanged.body.data.attributes.name, 'Acme first key');
        assert.equal(unchanged.body.data.attributes.status, 'active');
      });

      it('standard may read API keys and manage only its own application keys', async () => {
        const std = as(acme, 'standard');
        assert.equal((await call('POST', '/api/v2/api_keys', { ...std, body: newKeyBody })).status, 403);
        assert.equal((await call('DELETE', `/api/v2/api_keys/${acme.apiKey.id}`, std)).status, 403);
        const own = await call('POST', '/api/v2/current_user/application_keys', {
          ...std,
          body: { data: { type: 'application_keys', attributes: { name: 'mine', scopes: ['api_keys_read'] } } },
        });
        assert.equal(own.status, 201);
        assert.equal(own.body.data.attributes.key.length, 40);
        assert.deepEqual(own.body.data.attributes.scopes, ['api_keys_read']);
        const renamed = await call('PATCH', `/api/v2/application_keys/${own.body.data.id}`, {
          ...std,
          body: { data: { type: 'application_keys', id: own.body.data.id, attributes: { name: 'mine, renamed' } } },
        });
        assert.equal(renamed.status, 200);
        assert.equal(renamed.body.data.attributes.name, 'mine, renamed');
        assert.equal(renamed.body.data.attributes.key, undefined);
        const adminsKey = acme.users.admin.appKey.id;
        assert.equal(
          (await call('PATCH', `/api/v2/application_keys/${adminsKey}`, { ...std, body: { data: { type: 'application_keys', attributes: { name: 'x' } } } }))
            .status,
          403,
        );
        assert.equal((await call('DELETE', `/api/v2/application_keys/${adminsKey}`, std)).status, 403);
        assert.equal((await call('GET', `/api/v2/current_user/application_keys/${adminsKey}`, std)).status, 404, "another user's key is not the caller's");
        const mine = await call('GET', '/api/v2/current_user/application_keys?page[size]=100', std);
        assert.ok(
          mine.body.data.every(
            (k: { relationships: { owned_by: { data: { id: string } } } }) => k.relationships.owned_by.data.id === acme.users.standard.user.id,
          ),
        );
        assert.equal((await call('DELETE', `/api/v2/current_user/application_keys/${own.body.data.id}`, std)).status, 204);
        assert.equal((await call('GET', '/api/v2/audit/events', std)).status, 403);
      });

      it('admin may change any application key of its organisation', async () => {
        const created = await call('POST', '/api/v2/current_user/application_keys', {
          ...as(acme, 'standard'),
          body: { data: { type: 'application_keys', attributes: { name: 'std key' } } },
        });
        const id = created.body.data.id;
        const renamed = await call('PATCH', `/api/v2/application_keys/${id}?include=owned_by`, {
          ...as(acme, 'admin'),
          body: { data: { type: 'application_keys', id, attributes: { name: 'renamed by admin' } } },
        });
        assert.equal(renamed.status, 200);
        assert.equal(renamed.body.included[0].id, acme.users.standard.user.id);
        assert.equal(renamed.body.included[0].attributes.password_hash, undefined);
        assert.equal((await call('DELETE', `/api/v2/application_keys/${id}`, as(acme, 'admin'))).status, 204);
        assert.equal((await call('GET', `/api/v2/application_keys/${id}`, as(acme, 'admin'))).status, 404);
      });
    });

    describe('invariants and errors', () => {
      it('revoking the last active API key is 400 with the exact message', async () => {
        const answer = await call('DELETE', `/api/v2/api_keys/${globex.apiKey.id}`, as(globex, 'admin'));
        assert.equal(answer.status, 400);
        assert.deepEqual(answer.body, { errors: [LAST_KEY_MESSAGE] });
        assert.equal((await call('GET', '/api/v1/validate', { headers: { 'dd-api-key': globex.apiSecret } })).status, 200);
      });

      it('concurrent revokes of the last two keys: exactly one succeeds and one key stays active', async () => {
        for (let round = 0; round < 4; round++) {
          const org = await seedOrg(db.store, hasher, `Race${round}`);
          secrets.push(...org.secrets);
          const second = await call('POST', '/api/v2/api_keys', { ...as(org, 'admin'), body: { data: { type: 'api_keys', attributes: { name: 'second' } } } });
          const ids = [org.apiKey.id, second.body.data.id as string];
          const answers = await Promise.all(ids.map((id) => call('DELETE', `/api/v2/api_keys/${id}`, as(org, 'admin'))));
          const statuses = answers.map((a) => a.status).sort();
          assert.equal(statuses.filter((s) => s === 204).length, 1, `round ${round}: ${statuses}`);
          // The loser is refused by the invariant (400), or by auth (403) when its own key was the one revoked first.
          assert.ok(
            statuses.every((s) => s === 204 || s === 400 || s === 403),
            `round ${round}: ${statuses}`,
          );
          const active = await db.store.listApiKeys(org.org.id, { status: 'active' });
          assert.equal(active.totalFiltered, 1, `round ${round}: one active key remains`);
        }
      });

      it('rolling an expiring key again never extends its life', async () => {
        const created = await call('POST', '/api/v2/api_keys', {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { name: 'roll twice' } } },
        });
        const id = created.body.data.id as string;
        const first = await call('POST', `/api/v2/api_keys/${id}/roll`, {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { grace_period_seconds: 60 } } },
        });
        const expiresAt = first.body.included[0].attributes.expires_at;
        const again = await call('POST', `/api/v2/api_keys/${id}/roll`, {
          ...as(acme, 'admin'),
          body: { data: { type: 'api_keys', attributes: { grace_period_seconds: 86_400 } } },
        });
        assert.equal(again.status, 201);
        assert.equal(again.body.included[0].attributes.expires_at, expiresAt);
        const read = await call('GET', `/api/v2/api_keys/${id}`, as(acme, 'admin'));
        assert.equal(read.body.data.attributes.expires_at, expiresAt);
        assert.equal(
          (await call('POST', `/api/v2/api_keys/${id}/roll`, { ...as(acme, 'admin'), body: { data: { attributes: { grace_period_seconds: -1 } } } })).status,
          400,
        );
        for (const replacement of [first.body.data.id, again.body.data.id, id]) {
          await call('DELETE', `/api/v2/api_keys/${replacement}`, as(acme, 'admin'));
        }
      });

      it('bodies and routes: validation 400, bad JSON 400 without echo, unknown route 404, id mismatch 400', async () => {
        const admin = as(acme, 'admin');
        const missingName = await call('POST', '/api/v2/api_keys', { ...admin, body: { data: { type: 'api_keys', attributes: {} } } });
        assert.equal(missingName.status, 400);
        assert.match(missingName.body.errors[0], /name/);
        const wrongType = await call('POST', '/api/v2/api_keys', { ...admin, body: { data: { type: 'users', attributes: { name: 'x' } } } });
        assert.equal(wrongType.status, 400);
        const badJson = await call('POST', '/api/v2/api_keys', { ...admin, payload: `{"data": ${acme.apiSecret}` });
        assert.equal(badJson.status, 400);
        assert.deepEqual(badJson.body, { errors: ['The request body is not valid JSON'] });
        const unknown = await call('GET', `/api/v2/nothing?api_key=${acme.apiSecret}`);
        assert.equal(unknown.status, 404);
        assert.deepEqual(unknown.body, { errors: ['Not found'] });
        const mismatch = await call('PATCH', `/api/v2/api_keys/${acme.apiKey.id}`, {
          ...admin,
          body: { data: { type: 'api_keys', id: globex.apiKey.id, attributes: { name: 'x' } } },
        });
        assert.equal(mismatch.status, 400);
        assert.equal((await call('GET', '/api/v2/api_keys/not-a-uuid', admin)).status, 404);
        assert.equal((await call('GET', '/api/v2/api_keys?page[size]=101', admin)).status, 400);
        assert.equal((await call('GET', '/api/v2/api_keys?sort=hash', admin)).status, 400);
        assert.equal((await call('GET', '/api/v2/api_keys?filter[created_at][start]=yesterday', admin)).status, 400);
        assert.equal((await call('GET', '/api/v2/api_keys?include=password', admin)).status, 400);
      });
    });

    describe('extensions', () => {
      it('GET /api/v2/api_keys/{id}/hosts lists the hosts that used the key, with filter[since]', async () => {
        const t = (iso: string) => new Date(iso);
        await db.store.recordKeyUsage([
          {
            keyId: acme.apiKey.id,
            host: 'web-1',
            firstSeen: t('2026-01-01T00:00:00Z'),
            lastSeen: t('2026-01-02T00:00:00Z'),
            points: 40,
            agentVersion: '7.50.0',
          },
          { keyId: acme.apiKey.id, host: 'db-1', firstSeen: t('2026-01-01T00:00:00Z'), lastSeen: t('2026-03-01T00:00:00Z'), points: 2 },
        ]);
        const all = await call('GET', `/api/v2/api_keys/${acme.apiKey.id}/hosts`, as(acme, 'read_only'));
        assert.equal(all.status, 200);
        const byHost = new Map(all.body.data.map((h: any) => [h.attributes.host, h.attributes]));
        assert.deepEqual(byHost.get('web-1'), {
          host: 'web-1',
          first_seen: '2026-01-01T00:00:00.000Z',
          last_seen: '2026-01-02T00:00:00.000Z',
          points: 40,
          agent_version: '7.50.0',
        });
        assert.equal((byHost.get('db-1') as any).points, 2);
        const since = await call('GET', `/api/v2/api_keys/${acme.apiKey.id}/hosts?filter[since]=2026-02-01T00:00:00Z`, as(acme, 'read_only'));
        assert.deepEqual(
          since.body.data.map((h: any) => h.attributes.host),
          ['db-1'],
        );
        assert.equal((await call('GET', `/api/v2/api_keys/${acme.apiKey.id}/hosts?filter[since]=soon`, as(acme, 'read_only'))).status, 400);
      });
    });

    describe('audit trail', () => {
      it('records changes and failed authentication with actor and source address, filterable and paged', async () => {
        const admin = as(acme, 'admin');
        const created = await call('POST', '/api/v2/api_keys', { ...admin, body: { data: { type: 'api_keys', attributes: { name: 'audited' } } } });
        await call('PATCH', `/api/v2/api_keys/${created.body.data.id}`, {
          ...admin,
          body: { data: { type: 'api_keys', id: created.body.data.id, attributes: { name: 'audited 2' } } },
        });
        await call('DELETE', `/api/v2/api_keys/${created.body.data.id}`, admin);
        await call('GET', '/api/v2/api_keys', {
          headers: { 'dd-api-key': acme.apiSecret, 'dd-application-key': generateKey('app') },
          remoteAddress: '10.1.2.3',
        });

        const all = await call('GET', '/api/v2/audit/events?page[size]=100', admin);
        assert.equal(all.status, 200);
        const actions = all.body.data.map((e: { attributes: { attributes: { evt: { name: string } } } }) => e.attributes.attributes.evt.name);
        for (const action of [
          'api_key.create',
          'api_key.rename',
          'api_key.revoke',
          'api_key.restore',
          'api_key.roll',
          'app_key.create',
          'app_key.update',
          'app_key.delete',
          'user.login_failed',
        ]) {
          assert.ok(actions.includes(action), `audit has ${action}`);
        }
        const revoke = all.body.data.find(
          (e: any) => e.attributes.attributes.evt.name === 'api_key.revoke' && e.attributes.attributes.target.id === created.body.data.id,
        );
        assert.equal(revoke.type, 'audit');
        assert.equal(revoke.attributes.attributes.usr.id, acme.users.admin.user.id);
        assert.equal(revoke.attributes.attributes.network.client.ip, '127.0.0.1');
        const failed = all.body.data.find(
          (e: any) => e.attributes.attributes.evt.name === 'user.login_failed' && e.attributes.attributes.network.client.ip === '10.1.2.3',
        );
        assert.ok(failed, 'the failed attempt is audited with its source address');

        const logins = all.body.data.filter(
          (e: any) => e.attributes.attributes.evt.name === 'user.login' && e.attributes.attributes.usr.id === acme.users.admin.user.id,
        );
        assert.equal(logins.length, 1, 'an API login is audited once per application key and address per hour, not per request');
        assert.equal(logins[0].attributes.attributes.details.via, 'api');
        assert.equal(logins[0].attributes.attributes.network.client.ip, '127.0.0.1');

        const onlyRevokes = await call('GET', '/api/v2/audit/events?page[size]=100&filter[query]=@evt.name:api_key.revoke', admin);
        assert.ok(onlyRevokes.body.data.length >= 1);
        assert.ok(onlyRevokes.body.data.every((e: any) => e.attributes.attributes.evt.name === 'api_key.revoke'));
        const paged = await call('GET', '/api/v2/audit/events?page[size]=2&page[number]=1', admin);
        assert.equal(paged.body.data.length, 2);
        assert.equal(paged.body.meta.page.total_filtered_count, all.body.meta.page.total_filtered_count);
        const future = await call('GET', '/api/v2/audit/events?filter[from]=now%2B1h', admin);
        assert.equal(future.status, 400);
        const none = await call('GET', `/api/v2/audit/events?filter[from]=${Date.now() + 3_600_000}`, admin);
        assert.equal(none.body.data.length, 0);
        const recent = await call('GET', '/api/v2/audit/events?filter[from]=now-1h&filter[to]=now&page[size]=100', admin);
        assert.equal(recent.body.data.length, all.body.data.length);
      });
    });

    describe('operations endpoints', () => {
      it('/healthz, /metrics by route and key operation, /api/openapi.json from the route schemas', async () => {
        assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok', store: dialect.name });
        const now = Math.floor(Date.now() / 1000);
        const series = JSON.stringify({
          series: [
            {
              metric: 'metrics.probe',
              points: [
                [now, 1],
                [now - 1, 2],
                [now - 2, 3],
              ],
            },
          ],
        });
        const accepted = await call('POST', '/api/v1/series', {
          headers: { 'dd-api-key': acme.apiSecret, 'content-type': 'application/json' },
          payload: series,
        });
        assert.equal(accepted.status, 202);
        const refused = await call('POST', '/api/v1/series', { headers: { 'dd-api-key': 'not-a-key', 'content-type': 'application/json' }, payload: series });
        assert.equal(refused.status, 403);
        const metrics = await call('GET', '/metrics');
        assert.equal(metrics.status, 200);
        assert.match(metrics.raw, /rekey_http_requests_total\{method="POST",route="\/api\/v2\/api_keys",status="201"\} \d+/);
        assert.match(metrics.raw, /rekey_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/api\/v2\/api_keys\/:id"\}/);
        assert.match(metrics.raw, /rekey_key_operations_total\{operation="api_key.create",result="ok"\} [1-9]/);
        assert.match(metrics.raw, /rekey_key_operations_total\{operation="api_key.revoke",result="error"\} [1-9]/);
        assert.match(metrics.raw, /rekey_auth_failures_total\{reason="malformed_key"\} [1-9]/);
        const sample = (pattern: RegExp) => Number(pattern.exec(metrics.raw)?.[1] ?? NaN);
        assert.ok(sample(/^rekey_intake_points_total (\d+)$/m) >= 3, 'intake points counted');
        assert.ok(sample(/^rekey_intake_batches_total\{result="ok"\} (\d+)$/m) >= 1, 'intake batches counted');
        assert.ok(sample(/^rekey_intake_batch_commit_seconds_count (\d+)$/m) >= 1, 'intake commit time observed');
        assert.ok(sample(/^rekey_intake_refused_total\{reason="malformed"\} (\d+)$/m) >= 1, 'intake refusals counted by reason');
        assert.equal(sample(/^rekey_intake_unsaved_points (\d+)$/m), 0, 'no journal here: nothing acknowledged is unsaved');
        assert.equal(sample(/^rekey_intake_save_failures_total (\d+)$/m), 0);
        const openapi = await call('GET', '/api/openapi.json');
        assert.equal(openapi.status, 200);
        assert.equal(openapi.body.openapi, '3.0.3');
        for (const path of [
          '/api/v2/api_keys',
          '/api/v2/api_keys/{id}',
          '/api/v2/api_keys/{id}/roll',
          '/api/v2/current_user/application_keys',
          '/api/v1/validate',
          '/api/v2/audit/events',
        ]) {
          assert.ok(openapi.body.paths[path], `openapi documents ${path}`);
        }
        assert.ok(openapi.body.paths['/api/v2/api_keys'].get.parameters.some((p: { name: string }) => p.name === 'page[size]'));
      });
    });

    describe('throttling of failed authentication', () => {
      it('answers 429 with Retry-After after repeated failures from one address, only for that address', async () => {
        const throttled = await buildApp({ store: db.store, hasher, logger: false, authThrottle: { maxFailures: 5, windowMs: 60_000 } });
        try {
          const bad = { headers: { 'dd-api-key': generateKey('api') }, remoteAddress: '192.0.2.7', target: throttled };
          for (let i = 0; i < 5; i++) assert.equal((await call('GET', '/api/v1/validate', bad)).status, 403);
          const limited = await call('GET', '/api/v1/validate', bad);
          assert.equal(limited.status, 429);
          const retryAfter = Number(limited.headers['retry-after']);
          assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
          assert.match(limited.body.errors[0], /Too many failed authentication attempts/);
          const good = await call('GET', '/api/v2/api_keys', { ...as(acme, 'admin'), remoteAddress: '192.0.2.7', target: throttled });
          assert.equal(good.status, 429, 'even a good key waits once the address is throttled');
          const other = await call('GET', '/api/v2/api_keys', { ...as(acme, 'admin'), remoteAddress: '192.0.2.8', target: throttled });
          assert.equal(other.status, 200);
        } finally {
          await throttled.close();
        }
      });
    });

    describe('secrets', () => {
      it('no key created in this suite appears in any log line or error body', () => {
        assert.ok(logLines.length > 50, `captured ${logLines.length} log lines`);
        assert.ok(secrets.length >= 10, `tracked ${secrets.length} keys`);
        assert.ok(
          logLines.some((l) => l.includes('api_key=[REDACTED]')),
          'the api_key query parameter is logged masked',
        );
        for (const secret of secrets) {
          for (const line of logLines) assert.ok(!line.includes(secret), `a key leaked into a log line: ${line.replace(secret, '<KEY>')}`);
          for (const body of bodiesWithoutSecrets) assert.ok(!body.includes(secret), 'a key leaked into a response body');
        }
      });
    });
  });
}
