/**
 * Why per-key usage is counted in memory and written once a minute (src/intake/usage-minutes.ts):
 * the cost of one usage write per request — one `store.recordKeyUsageMinutes` upsert of one row
 * on the shipped default store (SQLite in a fresh data directory) — against one in-memory
 * `KeyUsageMinutes.count()`. Prints both per call and their ratio; nothing is asserted.
 *
 *   node --import tsx bench/usage-write-cost.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, last4 } from '../src/keys/key-format.js';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { openStore } from '../src/store/open-store.js';
import { KeyUsageMinutes, minuteOf } from '../src/intake/usage-minutes.js';

const WRITES = 2000;
const COUNTS = 1_000_000;

const dataDir = mkdtempSync(join(tmpdir(), 'rekey-usage-cost-'));
const store = await openStore({ dataDir });
try {
  const org = await store.createOrg('bench', { userId: null, kind: 'cli', sourceIp: null });
  const raw = generateKey('api');
  const key = await store.createApiKey(
    org.id,
    { name: 'k', hash: createKeyHasher(Buffer.alloc(32, 1)).hash(raw), last4: last4(raw) },
    { userId: null, kind: 'cli', sourceIp: null },
  );
  const minute = new Date(minuteOf(Date.now()));
  for (let i = 0; i < 100; i++) await store.recordKeyUsageMinutes([{ keyId: key.id, minute, requests: 1, bytes: 500, points: 10, hosts: 1 }]);
  let started = process.hrtime.bigint();
  for (let i = 0; i < WRITES; i++) await store.recordKeyUsageMinutes([{ keyId: key.id, minute, requests: 1, bytes: 500, points: 10, hosts: 1 }]);
  const writeUs = Number(process.hrtime.bigint() - started) / 1000 / WRITES;

  const usage = new KeyUsageMinutes(store);
  const hosts = ['web-1'];
  started = process.hrtime.bigint();
  for (let i = 0; i < COUNTS; i++) usage.count(key.id, { requests: 1, bytes: 500, points: 10, hosts });
  const countUs = Number(process.hrtime.bigint() - started) / 1000 / COUNTS;

  console.log(`one usage upsert per request (SQLite, store contract): ${writeUs.toFixed(1)} µs per call (${WRITES} calls)`);
  console.log(`one in-memory count per request:                       ${countUs.toFixed(3)} µs per call (${COUNTS} calls)`);
  console.log(`ratio: ${(writeUs / countUs).toFixed(0)}x; load average (1 min): ${(await import('node:os')).loadavg()[0]!.toFixed(2)}`);
} finally {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
