/**
 * Issue 15, row 3: a key sent in a percent-encoded query parameter name (`?api%5Fkey=…`,
 * `?%61pi_key=…`), which the server decodes and accepts, never reaches the server log; nor
 * does one under the application-key or `dd-api-key` names, or under any name at all.
 * Real requests through the real app and its real logger; the whole log is searched.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { createServerLogger } from '../../src/server/logger.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { seedOrg, type SeededOrg } from './seed.js';

describe('server log: keys in percent-encoded query parameters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-log-redaction-'));
  let app: FastifyInstance;
  let store: Store;
  let seeded: SeededOrg;
  let log = '';

  before(async () => {
    store = await openStore({ dataDir: dir });
    const hasher = createKeyHasher(await store.deploymentSecret());
    seeded = await seedOrg(store, hasher, 'Acme');
    const stream = new Writable({ write: (chunk, _encoding, done) => ((log += chunk), done()) });
    app = await buildApp({ store, hasher, logger: createServerLogger({ level: 'info', stream }) });
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the encoded names (so the key is really used) and logs none of the keys', async () => {
    const apiKey = seeded.apiSecret;
    const appKey = seeded.users.admin.appSecret;
    const encodedNames = ['api%5Fkey', '%61pi_key', 'api%5fkey', '%61%70%69%5f%6b%65%79'];
    for (const name of encodedNames) {
      const response = await app.inject({ method: 'GET', url: `/api/v1/validate?${name}=${apiKey}` });
      assert.equal(response.statusCode, 200, `${name}: the server read the key from the query`);
    }
    const now = Math.floor(Date.now() / 1000);
    const series = await app.inject({
      method: 'POST',
      url: `/api/v1/series?api%5Fkey=${apiKey}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ series: [{ metric: 'redaction.check', points: [[now, 1]], host: 'web-1' }] }),
    });
    assert.equal(series.statusCode, 202, `the intake read the key from ?api%5Fkey=: ${series.body}`);
    // Names the server does not read, but that a client may still put a key in.
    const other = [
      `application%5Fkey=${appKey}`,
      `%61pplication_key=${appKey}`,
      `dd%2Dapi%2Dkey=${apiKey}`,
      `DD-API-KEY=${apiKey}`,
      `dd_application_key=${appKey}`,
      `anything=${apiKey}`,
      `anything=${encodeURIComponent(apiKey).replace(/[0-9a-f]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`,
      `api_key=${apiKey}&application_key=${appKey}`,
    ];
    for (const query of other) await app.inject({ method: 'GET', url: `/api/v1/validate?${query}`, headers: { 'dd-api-key': apiKey } });
    await new Promise((resolve) => setImmediate(resolve));

    assert.match(log, /"url":"\/api\/v1\/validate\?api%5Fkey=\[REDACTED\]"/, 'the request is logged, its key masked');
    assert.match(log, /"url":"\/api\/v1\/validate\?%61pi_key=\[REDACTED\]"/);
    for (const secret of [apiKey, appKey]) {
      assert.ok(!log.includes(secret), 'a full key in the log');
      assert.ok(!log.toLowerCase().includes(secret.slice(0, 16)), 'half a key in the log');
    }
    assert.ok(
      !log.includes(
        apiKey
          .split('')
          .map((c) => `%${c.charCodeAt(0).toString(16)}`)
          .join(''),
      ),
      'the fully encoded key in the log',
    );
  });
});
