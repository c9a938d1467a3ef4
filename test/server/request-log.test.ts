/**
 * Issue 18: the intake logs no line per request at info — a summary per interval from the
 * request counters instead — while a management request keeps exactly one line (masked URL,
 * status, time) and errors are still logged. Real app over real HTTP, its real logger.
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
import { listenLocal } from './live-server.js';
import { headersFor, seedOrg, type SeededOrg } from './seed.js';

interface LogLine {
  msg: string;
  level: number;
  req?: { method: string; url: string };
  res?: { statusCode: number };
  intakeRequests?: number;
  byStatus?: Record<string, number>;
}

describe('request logging: none per intake request, one per management request, a periodic intake summary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-request-log-'));
  let app: FastifyInstance;
  let store: Store;
  let seeded: SeededOrg;
  let baseUrl: string;
  let log = '';
  const lines = (): LogLine[] =>
    log
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LogLine);

  before(async () => {
    store = await openStore({ dataDir: dir });
    const hasher = createKeyHasher(await store.deploymentSecret());
    seeded = await seedOrg(store, hasher, 'Acme');
    const stream = new Writable({ write: (chunk, _encoding, done) => ((log += chunk), done()) });
    app = await buildApp({ store, hasher, logger: createServerLogger({ level: 'info', stream }), requestSummaryIntervalMs: 100 });
    baseUrl = await listenLocal(app);
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs intake requests only in the summary, management requests once each', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      series: [{ metric: 'log.check', type: 3, points: [{ timestamp: now, value: 1 }], resources: [{ name: 'web-1', type: 'host' }] }],
    });
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${baseUrl}/api/v2/series`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'dd-api-key': seeded.apiSecret },
        body,
      });
      assert.equal(response.status, 202, await response.text());
    }
    const refused = await fetch(`${baseUrl}/api/v2/series`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'dd-api-key': 'f'.repeat(32) },
      body,
    });
    assert.equal(refused.status, 403);
    const list = await fetch(`${baseUrl}/api/v2/api_keys?api_key=${seeded.apiSecret}`, { headers: headersFor(seeded, 'admin') });
    assert.equal(list.status, 200);

    // Lines are written after each answer is sent (onResponse) and the summary comes from a
    // timer (100 ms): wait until all 21 intake requests are summarised and the management line
    // is written, not for a fixed time.
    const summarised = () => lines().reduce((n, l) => n + (l.intakeRequests ?? 0), 0);
    const deadline = Date.now() + 10_000;
    while ((summarised() < 21 || !lines().some((l) => l.req !== undefined)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const all = lines();
    const perRequest = all.filter((l) => l.req !== undefined || l.res !== undefined);
    assert.deepEqual(
      perRequest.map((l) => [l.req?.method, l.req?.url, l.res?.statusCode]),
      [['GET', '/api/v2/api_keys?api_key=[REDACTED]', 200]],
      'one line, for the management request only',
    );
    assert.ok(!all.some((l) => /incoming request|request completed/.test(l.msg)), "Fastify's own per-request lines are off");
    assert.ok(!all.some((l) => /key refused/.test(l.msg)), 'a refused key writes no line of its own at info (it is counted on /metrics)');
    const summaries = all.filter((l) => l.intakeRequests !== undefined);
    const total = summaries.reduce((n, l) => n + l.intakeRequests!, 0);
    assert.equal(total, 21, JSON.stringify(summaries));
    const byStatus: Record<string, number> = {};
    for (const s of summaries) for (const [status, n] of Object.entries(s.byStatus ?? {})) byStatus[status] = (byStatus[status] ?? 0) + n;
    assert.deepEqual(byStatus, { '202': 20, '403': 1 });
    for (const secret of seeded.secrets) assert.ok(!log.includes(secret), 'a key in the log');
  });
});
