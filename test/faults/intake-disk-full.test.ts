/**
 * Issue 14, rows 1–3, with real faults: a real `rekey server` whose data directory is a small
 * tmpfs, loaded by concurrent posters while the tmpfs is filled — by bytes, then by inodes —
 * and freed again, then killed with SIGKILL and restarted. Every point answered 202 is read
 * back through /api/v1/query, once; every point that could not be kept was answered 503 with
 * Retry-After; the intake accepts again by itself once space returns; and no client ever
 * receives a byte it did not ask for (an idle keep-alive socket hears nothing).
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { difference, fillBytes, fillInodes, IdleSockets, mountTmpfs, Poster, sleep, storedValues } from './fault-support.js';

const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;
const now = Math.floor(Date.now() / 1000);
// Point i has timestamp BASE_TS + i: inside retention, never in the future; the servers accept
// points up to the retention old (REKEY_INTAKE_MAX_POINT_AGE_SECONDS), not only Datadog's hour.
const BASE_TS = now - 6 * 24 * 3600;
const FROM = BASE_TS - 10;
const TO = now + 60;

async function start(dataDir: string, saveIntervalMs: number): Promise<ServerProcess> {
  return startServerProcess({
    args: ['--data', dataDir, '--log-level', 'warn'],
    env: { ...env, REKEY_INTAKE_SAVE_INTERVAL_MS: String(saveIntervalMs), REKEY_INTAKE_MAX_POINT_AGE_SECONDS: String(7 * 24 * 3600) },
  });
}

function keysOf(server: ServerProcess): { apiKey: string; appKey: string } {
  const apiKey = server.credentials?.apiKey?.key;
  const appKey = server.credentials?.appKey;
  assert.ok(apiKey && appKey, 'the first start printed the keys');
  return { apiKey, appKey };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (!(await waitUntil(condition, timeoutMs))) throw new Error(`timed out waiting for ${what}`);
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

describe('the intake under a full data directory (real tmpfs, SIGKILL)', () => {
  const servers: ServerProcess[] = [];
  const mounts: Array<{ unmount(): void }> = [];
  after(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    for (const mount of mounts) mount.unmount();
  });

  it('row 1: full by bytes for ~1 s, freed, then SIGKILL — every acknowledged point is stored, once; the rest got 503 + Retry-After', async () => {
    const mount = mountTmpfs('rekey-fault-bytes-', '48m', 10_000);
    mounts.push(mount);
    // Saving every 10 s: everything acknowledged below lives in the journal alone when the process dies.
    const first = await start(mount.dir, 10_000);
    servers.push(first);
    const keys = keysOf(first);
    const poster = new Poster({ url: first.url, apiKey: keys.apiKey, metric: 'fault.bytes', baseTs: BASE_TS, workers: 4, pointsPerPayload: 50 });
    try {
      await waitFor('the first 202s', () => poster.acknowledged.size >= 2000);
      const filler = fillBytes(mount.dir);
      const fullAt = Date.now();
      await waitFor('a 503 while the disk is full', () => poster.last503 > fullAt);
      await sleep(1000);
      rmSync(filler);
      const freedAt = Date.now();
      await waitFor('a 202 again once space returned, without a restart', () => poster.last202 > freedAt + 200);
      await sleep(300);
    } finally {
      await poster.stop();
    }
    assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');

    const refused = poster.statuses.get(503) ?? 0;
    const second = await start(mount.dir, 1000);
    servers.push(second);
    const { status, values } = await storedValues(second.url, keys, 'fault.bytes', FROM, TO);
    assert.equal(status, 200);
    assert.deepEqual(
      difference(poster.acknowledged, values),
      { missing: 0, extra: 0, duplicates: 0 },
      `${poster.acknowledged.size} points acknowledged (${refused} payloads refused), ${values.length} read back`,
    );
    assert.doesNotMatch(second.stderr(), /skipped torn records/, 'a failed write was cut back at once: recovery found nothing torn');
    await second.stop('SIGTERM');

    assert.ok(refused > 0, 'the full disk refused some payloads');
    assert.ok(
      poster.retryAfter.every((value) => value !== null && Number(value) > 0),
      `every 503 carries Retry-After (got ${[...new Set(poster.retryAfter)].join(', ')})`,
    );
    assert.deepEqual([...poster.statuses.keys()].sort(), [202, 503], 'every answer is 202 or 503');
  });

  it('rows 2 and 3: no inodes while the journal rotates — appends go on in the open file, no socket receives journal bytes, queries miss nothing, before and after a SIGKILL', async () => {
    const mount = mountTmpfs('rekey-fault-inodes-', '64m', 2000);
    mounts.push(mount);
    // Saving (and so rotating the journal) every 100 ms.
    const first = await start(mount.dir, 100);
    servers.push(first);
    const keys = keysOf(first);
    const idle = new IdleSockets();
    after(() => idle.close());
    const poster = new Poster({ url: first.url, apiKey: keys.apiKey, metric: 'fault.inodes', baseTs: BASE_TS, workers: 3, pointsPerPayload: 50 });
    let missingWhileRunning: ReturnType<typeof difference> | undefined;
    let recovered = false;
    let queryStatus = 0;
    try {
      await idle.open(first.port);
      await waitFor('the first 202s', () => poster.acknowledged.size >= 2000);
      const holder = fillInodes(mount.dir);
      // New idle connections while rotations fail: the process gives each the lowest free
      // descriptor number — the journal's, had a failed rotation closed it.
      for (let i = 0; i < 15; i++) {
        await sleep(100);
        await idle.open(first.port);
      }
      rmSync(holder, { recursive: true });
      const freedAt = Date.now();
      recovered = await waitUntil(() => poster.last202 > freedAt + 300, 10_000);
      await poster.stop();
      // Row 3: while running, with no restart, a query reads back every acknowledged point.
      const { status, values } = await storedValues(first.url, keys, 'fault.inodes', FROM, TO);
      queryStatus = status;
      missingWhileRunning = difference(poster.acknowledged, values);
    } finally {
      await poster.stop();
    }
    await sleep(200);
    assert.equal(idle.unsolicited, 0, `${idle.count} idle connections received ${idle.unsolicited} bytes they never asked for`);
    assert.ok(recovered, `202s again once the inodes returned, without a restart (statuses ${JSON.stringify([...poster.statuses])})`);
    assert.equal(queryStatus, 200);
    assert.deepEqual(
      missingWhileRunning,
      { missing: 0, extra: 0, duplicates: 0 },
      `${poster.acknowledged.size} points acknowledged; statuses ${JSON.stringify([...poster.statuses])}`,
    );

    await first.stop('SIGKILL');
    const second = await start(mount.dir, 1000);
    servers.push(second);
    const { values } = await storedValues(second.url, keys, 'fault.inodes', FROM, TO);
    assert.deepEqual(difference(poster.acknowledged, values), { missing: 0, extra: 0, duplicates: 0 }, 'after a SIGKILL and a restart: still every point once');
    await second.stop('SIGTERM');
    assert.deepEqual(
      readdirSync(join(mount.dir, 'intake-journal')).filter((name) => name.endsWith('.journal')),
      [],
      'a graceful stop leaves no journal file',
    );
  });
});
