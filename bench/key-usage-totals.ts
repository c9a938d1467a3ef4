/**
 * What every intake node pays every 2 s to share the per-key limits (src/intake/key-limits.ts):
 * one `store.keyUsageTotals` of all the keys limited in points or bytes. Here 2,000 keys, each
 * with a full UTC day of usage minutes (1,440 rows a key, 2.88 million in all, written through
 * `store.recordKeyUsageMinutes` as the intake writes them), on a fresh PostgreSQL database
 * (REKEY_TEST_DATABASE_URL, else an embedded server) or SQLite. Prints the time of the read
 * (each of 5 rounds, and the median) and, on PostgreSQL, EXPLAIN (ANALYZE, BUFFERS) of each
 * statement the read ran (captured from the driver, so it is whatever the store runs).
 * Nothing is asserted.
 *
 *   flock /work/quiet.lock node --import tsx bench/key-usage-totals.ts [--sqlite] [--keys 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { generateKey, last4 } from '../src/keys/key-format.js';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { openStore } from '../src/store/open-store.js';
import type { KeyUsageMinute } from '../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.js';

const args = process.argv.slice(2);
const sqlite = args.includes('--sqlite');
const keyCount = Number(args[args.indexOf('--keys') + 1] ?? 0) || 2000;
const DAY = Date.UTC(2026, 0, 5);
const MINUTES = 1440;
const ROUNDS = 5;
const actor = { userId: null, kind: 'cli' as const, sourceIp: null };

// Every statement the store sends about usage, with its parameters, for EXPLAIN.
const captured: Array<{ text: string; values: unknown[] }> = [];
let capturing = false;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const [config, values] = args as [string | { text: string; values?: unknown[] }, unknown[] | undefined];
  const text = typeof config === 'string' ? config : config.text;
  if (capturing && /key_usage/.test(text)) captured.push({ text, values: (typeof config === 'string' ? values : config.values) ?? [] });
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

let database: TestDatabase | undefined;
let dataDir: string | undefined;
if (sqlite) dataDir = mkdtempSync(join(tmpdir(), 'rekey-usage-totals-'));
else database = await createTestDatabase();
const store = await openStore(sqlite ? { dataDir: dataDir! } : { databaseUrl: database!.url });
try {
  console.log(
    `load before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const hasher = createKeyHasher(Buffer.alloc(32, 1));
  const keyIds: string[] = [];
  let orgId = '';
  for (let i = 0; i < keyCount; i++) {
    // An organisation holds at most 50 API keys.
    if (i % 50 === 0) orgId = (await store.createOrg(`bench-${i / 50}`, actor)).id;
    const raw = generateKey('api');
    keyIds.push((await store.createApiKey(orgId, { name: `k${i}`, hash: hasher.hash(raw), last4: last4(raw) }, actor)).id);
  }
  let started = Date.now();
  for (let m = 0; m < MINUTES; m++) {
    const minute = new Date(DAY + m * 60_000);
    const rows: KeyUsageMinute[] = keyIds.map((keyId) => ({ keyId, minute, requests: 10, bytes: 5_000, points: 1_000, hosts: 3 }));
    await store.recordKeyUsageMinutes(rows);
  }
  console.log(`${sqlite ? 'SQLite' : 'PostgreSQL'}: ${keyCount} keys × ${MINUTES} minutes written in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const at = { minute: new Date(DAY + (MINUTES - 1) * 60_000), dayStart: new Date(DAY) };
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    capturing = round === ROUNDS - 1;
    started = performance.now();
    const totals = await store.keyUsageTotals(keyIds, at);
    times.push(performance.now() - started);
    const one = totals.get(keyIds[0]!);
    if (totals.size !== keyCount || one?.dayBytes !== 5_000 * MINUTES || one.minutePoints !== 1_000) throw new Error(`wrong totals: ${JSON.stringify(one)}`);
  }
  capturing = false;
  const median = [...times].sort((a, b) => a - b)[ROUNDS >> 1]!;
  console.log(`keyUsageTotals of ${keyCount} keys: ${times.map((t) => t.toFixed(0)).join(', ')} ms; median ${median.toFixed(0)} ms`);
  console.log(
    `load after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  if (!sqlite) {
    const client = new pg.Client({ connectionString: database!.url });
    await client.connect();
    try {
      // One of each distinct statement (a batch of 500 keys each).
      const seen = new Set<string>();
      for (const statement of captured) {
        if (seen.has(statement.text)) continue;
        seen.add(statement.text);
        console.log(`\n${statement.text.replace(/(\$\d+, ){3,}/g, '$…, ')}`);
        const plan = await query.call(client, `explain (analyze, buffers) ${statement.text}`, statement.values);
        // The 500 key ids of a batch, shortened.
        const short = (line: string) => line.replace(/'\{[^}]*\}'/g, (ids) => `'{${ids.split(',').length} ids}'`);
        for (const row of (plan as pg.QueryResult<{ 'QUERY PLAN': string }>).rows) console.log(`  ${short(row['QUERY PLAN'])}`);
      }
    } finally {
      await client.end();
    }
  }
} finally {
  await store.close();
  await database?.drop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
}
