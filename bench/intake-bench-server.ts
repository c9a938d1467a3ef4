/**
 * A server for the intake benchmarks, run as its own process so the load generator
 * (autocannon, in the parent) does not share its event loop.
 *
 *   node --import tsx bench/intake-bench-server.ts intake        # intake plugin, key verified, journal (durability process, as rekey server)
 *   node --import tsx bench/intake-bench-server.ts intake-power  # same, durability power: journal fdatasync()ed before each 202, SQLite synchronous=FULL
 *   node --import tsx bench/intake-bench-server.ts intake-direct # no journal: each group-commit batch committed to SQLite (WAL, synchronous=NORMAL) before its 202
 *   node --import tsx bench/intake-bench-server.ts intake-direct-power # same with synchronous=FULL (fsync of the WAL per batch)
 *   node --import tsx bench/intake-bench-server.ts intake-noauth # same routes, runtime and intake auth (rate limits, key limits, usage), the key's verification alone skipped
 *   node --import tsx bench/intake-bench-server.ts intake-nostore # same as intake, points discarded (the ceiling storage leaves)
 *   node --import tsx bench/intake-bench-server.ts bare          # node:http that only parses the JSON
 *   node --import tsx bench/intake-bench-server.ts bare-protobuf # node:http that only inflates (Content-Encoding: deflate) and decodes the protobuf MetricPayload with protobufjs
 *
 * The API key comes from env REKEY_BENCH_API_KEY (created in a fresh SQLite store here).
 * REKEY_BENCH_USAGE_MS overrides the key-usage flush interval (default 1000 ms), to measure
 * what the once-a-second usage write costs.
 * Prints one JSON line `{"url":…}` when listening; stops on SIGTERM, printing
 * `{"pointsStored":…,"cpuMicros":…}` (intake modes: the distinct points read back from the
 * database, each (host, tags, ts) once however often it was sent; the CPU time the process
 * used from listening to the end of its final save).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { createIntakeAuth } from '../src/intake/intake-auth.js';
import { MetricPayloadType } from '../src/intake/metric-payload-proto.js';
import { intakeRoutes, registerIntake } from '../src/intake/intake-plugin.js';
import { IntakeRuntime, type IntakeOptions } from '../src/intake/intake-runtime.js';
import { last4 } from '../src/keys/key-format.js';
import { KyselyPointStore } from '../src/points/kysely-point-store.js';
import type { PointStore } from '../src/points/point-store.js';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { CLI_ACTOR, SQLITE } from '../test/support/dialects.js';

const mode = process.argv[2];

/** Accepts every write and keeps nothing: the intake's own cost without storage's. */
const discardingPointStore: PointStore = {
  async writeBatch() {},
  async queryPoints() {
    return [];
  },
  async querySeries() {
    return [];
  },
  async listHosts() {
    return { hosts: [], totalMatching: 0 };
  },
  async listMetrics() {
    return [];
  },
  async deleteOlderThan() {
    return 0;
  },
};

/**
 * The floor: a bare `node:http` server that reads the body, parses it with `parse` (and nothing
 * else a server would do), counts the points and answers 202. One server for both floors, so
 * the JSON and protobuf floors differ only in the parse.
 */
function startBareFloor(parse: (body: Buffer, encoding: string | undefined) => { series: Array<{ points: unknown[] }> }): void {
  let points = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const payload = parse(Buffer.concat(chunks), request.headers['content-encoding']);
      for (const series of payload.series) points += series.points.length;
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end('{"errors":[]}');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  });
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ pointsParsed: points })}\n`);
    process.exit(0);
  });
}

if (mode === 'bare-protobuf') {
  startBareFloor(
    (raw, encoding) => MetricPayloadType.decode(encoding === 'deflate' ? inflateSync(raw) : raw) as unknown as { series: Array<{ points: unknown[] }> },
  );
} else if (mode === 'bare') {
  startBareFloor((raw) => JSON.parse(raw.toString('utf8')) as { series: Array<{ points: unknown[] }> });
} else if (
  mode === 'intake' ||
  mode === 'intake-power' ||
  mode === 'intake-direct' ||
  mode === 'intake-direct-power' ||
  mode === 'intake-noauth' ||
  mode === 'intake-nostore'
) {
  const UNLIMITED = { perSecond: 1e9, burst: 1e9 };
  const key = process.env.REKEY_BENCH_API_KEY;
  if (!key) throw new Error('set REKEY_BENCH_API_KEY');
  const db = await SQLITE.createStore();
  const power = mode === 'intake-power' || mode === 'intake-direct-power';
  // As rekey server --durability power does (src/server/start-server.ts).
  if (power) await sql`pragma synchronous = FULL`.execute(db.store.sharedTables().db);
  const hasher = createKeyHasher(await db.store.deploymentSecret());
  const org = await db.store.createOrg('bench', CLI_ACTOR);
  await db.store.createApiKey(org.id, { name: 'bench', hash: hasher.hash(key), last4: last4(key) }, CLI_ACTOR);
  const app = Fastify({ logger: false });
  const cpuAtStart = process.cpuUsage();
  const options: IntakeOptions = {
    store: db.store,
    hasher,
    // Like the server on SQLite: batches journaled before the 202, saved into the database every second.
    ...(mode === 'intake-nostore'
      ? { pointStore: discardingPointStore }
      : mode.startsWith('intake-direct')
        ? {}
        : { journalDir: join(db.location.dataDir!, 'intake-journal') }),
    durability: power ? 'power' : 'process',
    // One load generator on one address and key measures capacity, not the abuse limits
    // (docs/security.md).
    rateLimits: { perKey: UNLIMITED, perAddress: UNLIMITED, unknownKeysPerAddress: UNLIMITED, refusedPayloadsPerKey: UNLIMITED },
    ...(process.env.REKEY_BENCH_USAGE_MS ? { usageFlushIntervalMs: Number(process.env.REKEY_BENCH_USAGE_MS) } : {}),
  };
  if (mode === 'intake-noauth') {
    // The same runtime, routes and intake auth as registerIntake — rate limits, key limits,
    // usage counting all as usual — with verification alone skipped: the verifier answers
    // the bench key without checking its format, hashing it or looking it up. BENCHMARK ONLY.
    const benchKey = await db.store.findApiKeyByHash(hasher.hash(key));
    if (benchKey === undefined) throw new Error('the bench key is not in the store');
    const runtime = new IntakeRuntime(options, app.log);
    runtime.verifier.verify = () => Promise.resolve({ ok: true, key: benchKey });
    await runtime.start();
    app.addHook('onClose', () => runtime.close());
    await app.register(intakeRoutes, { runtime, auth: createIntakeAuth(runtime) });
  } else {
    await registerIntake(app, options);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` })}\n`);
  process.on('SIGTERM', () => {
    void (async () => {
      await app.close(); // saves what the journal holds: its cost is counted below
      const cpuServing = process.cpuUsage(cpuAtStart);
      const tables = db.store.sharedTables();
      const metrics = await sql<{ metric: string }>`select distinct metric from metric_chunks where org_id = ${org.id}`.execute(tables.db);
      let distinct = 0;
      for (const { metric } of metrics.rows) {
        distinct += (await new KyselyPointStore(tables).queryPoints({ orgId: org.id, metric, from: 0, to: 2 ** 40 })).length;
      }
      process.stdout.write(`${JSON.stringify({ pointsStored: distinct, cpuMicros: cpuServing.user + cpuServing.system })}\n`);
      await db.destroy();
      process.exit(0);
    })();
  });
} else {
  process.stderr.write('usage: intake-bench-server.ts intake|intake-power|intake-direct|intake-direct-power|intake-noauth|intake-nostore|bare|bare-protobuf\n');
  process.exit(2);
}
