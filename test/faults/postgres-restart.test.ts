/**
 * Two real `rekey server` processes (nodes) on a PostgreSQL of this test's own
 * (test/support/embedded-postgres.ts, on its own free port; the machine's shared server is
 * never touched), under load from intake
 * writers and management readers on both, while that PostgreSQL is stopped (fast shutdown:
 * every connection gets 57P01) and started again, twice.
 *
 * Asserted: no node crashes (one of a node's clients is deterministically checked out,
 * blocked on a row lock, at the moment of each shutdown); while the database is down every
 * answer is a 503 with Retry-After, never a 500; /healthz goes 503 and back to 200 by itself,
 * /livez stays 200; and every point acknowledged with 202 is stored, exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { EmbeddedPostgres } from '../support/embedded-postgres.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rekey server on PostgreSQL: the database restarted under load', () => {
  let database: EmbeddedPostgres | undefined;
  const servers: ServerProcess[] = [];

  before(async () => {
    database = await EmbeddedPostgres.start();
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.stop('SIGTERM', 5_000).catch(() => {})));
    await database?.destroy();
  });

  it('never crashes, answers 503 with Retry-After (not 500) while it is down, and stores every acknowledged point', { timeout: 150_000 }, async () => {
    const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;
    servers.push(await startServerProcess({ args: ['--log-level', 'warn'], env: { ...env, REKEY_DATABASE_URL: database!.url } }));
    servers.push(await startServerProcess({ args: ['--log-level', 'warn'], env: { ...env, REKEY_DATABASE_URL: database!.url } }));
    const apiKey = servers[0]!.credentials?.apiKey?.key;
    const appKey = servers[0]!.credentials?.appKey;
    assert.ok(apiKey && appKey, 'the first start printed the keys');
    const urls = servers.map((server) => server.url);
    const stderrs = () =>
      servers.map((server, i) => `node ${i}: exit ${server.child.exitCode} ${server.child.signalCode}\n${server.stderr().slice(-2000)}`).join('\n');
    const management = { 'dd-api-key': apiKey, 'dd-application-key': appKey };

    const statuses = { intake: new Map<number, number>(), management: new Map<number, number>() };
    const count = (map: Map<number, number>, status: number) => map.set(status, (map.get(status) ?? 0) + 1);
    const problems: string[] = [];
    let stopLoad = false;
    let abort = false; // the test failed: writers stop retrying too

    // Intake writers, like agents: a payload is re-sent until it gets its 202.
    // Each payload holds 10 points one second apart; a writer moves to a new metric every
    // PAYLOADS_PER_METRIC payloads, so however fast the machine, no timestamp leaves the intake's
    // accepted window (a fast run once pushed them 10 minutes into the future: 400s).
    const start = Math.floor(Date.now() / 1000) - 1800;
    const WRITERS = 4;
    const PAYLOADS_PER_METRIC = 100;
    const acknowledged = new Map<string, number[]>();
    const writer = async (w: number) => {
      const base = urls[w % urls.length]!;
      for (let seq = 0; !stopLoad; seq++) {
        const metric = `fault.pg.w${w}.b${Math.floor(seq / PAYLOADS_PER_METRIC)}`;
        const offset = (seq % PAYLOADS_PER_METRIC) * 10;
        const values = Array.from({ length: 10 }, (_, p) => seq * 10 + p);
        const body = JSON.stringify({
          series: [
            { metric, type: 3, points: values.map((v, p) => ({ timestamp: start + offset + p, value: v })), resources: [{ name: 'web-1', type: 'host' }] },
          ],
        });
        for (;;) {
          if (abort) return;
          const response = await fetch(`${base}/api/v2/series`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'dd-api-key': apiKey },
            body,
          }).catch((error: Error) => error);
          if (response instanceof Error) {
            problems.push(`intake: ${response.message}`);
            await sleep(200);
            continue;
          }
          count(statuses.intake, response.status);
          await response.arrayBuffer();
          if (response.status === 202) break;
          if (response.status !== 503) problems.push(`intake answered ${response.status}`);
          else if (response.headers.get('retry-after') === null) problems.push('an intake 503 without Retry-After');
          await sleep(50);
        }
        if (!acknowledged.has(metric)) acknowledged.set(metric, []);
        acknowledged.get(metric)!.push(...values);
      }
    };
    // Management readers: each answer is 200 or 503-with-Retry-After.
    let managementBody503 = '';
    const reader = async (base: string) => {
      while (!stopLoad) {
        const response = await fetch(`${base}/api/v2/api_keys`, { headers: management }).catch((error: Error) => error);
        if (response instanceof Error) {
          problems.push(`management: ${response.message}`);
        } else {
          count(statuses.management, response.status);
          const text = await response.text();
          if (response.status === 503) {
            managementBody503 = text;
            if (response.headers.get('retry-after') === null) problems.push('a management 503 without Retry-After');
          } else if (response.status !== 200) problems.push(`management answered ${response.status}: ${text.slice(0, 200)}`);
        }
        await sleep(20);
      }
    };
    const health = async (base: string, path: string) => {
      const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) }).catch((error: Error) =>
        assert.fail(`${base}${path}: ${error.message}\n${stderrs()}`),
      );
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { status: string } };
    };
    const waitForHealth = async (base: string, status: number, withinMs: number) => {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const answer = await health(base, '/healthz');
        if (answer.status === status) return answer;
        if (Date.now() > deadline) assert.fail(`${base}/healthz did not answer ${status} within ${withinMs} ms (last ${answer.status})`);
        await sleep(100);
      }
    };

    for (const base of urls) assert.equal((await health(base, '/healthz')).status, 200);
    const createdWhileStopping: Array<{ base: string; id: string }> = [];
    const load = [...Array.from({ length: WRITERS }, (_, w) => writer(w)), ...urls.map((base) => reader(base))];
    let loadStopped = false;
    try {
      for (let round = 0; round < 2; round++) {
        await sleep(1_500);
        // A key-changing transaction checked out and blocked on a row lock held by the test, so a
        // pool client is certainly checked out (mid-transaction) when PostgreSQL shuts down.
        const locker = new pg.Client({ connectionString: database!.url });
        locker.on('error', () => {});
        await locker.connect();
        await locker.query('begin');
        await locker.query('select id from orgs for update');
        const blocked = fetch(`${urls[round % urls.length]}/api/v2/api_keys`, {
          method: 'POST',
          headers: { ...management, 'content-type': 'application/json' },
          body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: `blocked-${round}` } } }),
        }).then(async (response) => ({ status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() }));
        await sleep(300);

        await database!.stop();
        const blockedAnswer = await blocked;
        // Fast shutdown ends every session at once; the usual order ends the blocked one as well
        // (503). Once in a full `npm test` at load ~10 (2026-12-01) it was answered 201: the
        // create ran on after the lock holder's session ended. A 201 must then be true: the key
        // is read back once the database is up again (below).
        if (blockedAnswer.status === 201) {
          const id = (JSON.parse(blockedAnswer.body) as { data: { id: string } }).data.id;
          createdWhileStopping.push({ base: urls[round % urls.length]!, id });
        } else {
          assert.equal(blockedAnswer.status, 503, `the blocked transaction answers 503: ${blockedAnswer.body}`);
          assert.ok(blockedAnswer.retryAfter, 'with Retry-After');
        }
        for (const base of urls) {
          const down = await waitForHealth(base, 503, 5_000);
          assert.equal(down.body.status, 'unavailable');
          assert.ok(down.retryAfter, '/healthz 503 has Retry-After');
          assert.equal((await health(base, '/livez')).status, 200, '/livez answers while the database is down');
        }
        await sleep(2_000); // load keeps coming while the database is down
        assert.ok(
          servers.every((server) => server.child.exitCode === null && server.child.signalCode === null),
          `every node is still running\n${stderrs()}`,
        );

        await database!.start();
        for (const base of urls) await waitForHealth(base, 200, 15_000);
        for (const { base, id } of createdWhileStopping.splice(0)) {
          const read = await fetch(`${base}/api/v2/api_keys/${id}`, { headers: management });
          assert.equal(read.status, 200, `the key answered 201 while the database stopped is stored`);
        }
        await locker.end().catch(() => {});
      }
      await sleep(1_500);
      stopLoad = true;
      await Promise.all(load);
      loadStopped = true;
    } finally {
      if (!loadStopped) {
        stopLoad = true;
        abort = true;
        await Promise.all(load);
      }
    }

    assert.ok(
      servers.every((server) => server.child.exitCode === null && server.child.signalCode === null),
      `no node crashed\n${stderrs()}`,
    );
    for (const server of servers) assert.doesNotMatch(server.stderr(), /uncaught|unhandled/i);
    assert.deepEqual(problems, [], 'no 500, no other status, no 503 without Retry-After, no dropped connection');
    assert.ok((statuses.management.get(503) ?? 0) > 0, `management saw 503s while the database was down: ${JSON.stringify([...statuses.management])}`);
    assert.match(managementBody503, /The database is unavailable right now/);
    assert.ok(!statuses.management.has(500) && !statuses.intake.has(500));

    // Every acknowledged point is stored, once.
    assert.ok(acknowledged.size >= WRITERS, 'every writer had points acknowledged');
    for (const [metric, values] of acknowledged) {
      const w = Number(/\.w(\d+)\./.exec(metric)![1]);
      const now = Math.floor(Date.now() / 1000);
      // Read on the other node than the one the points were written to.
      const response = await fetch(`${urls[(w + 1) % urls.length]}/api/v1/query?from=${start - 10}&to=${now}&query=${encodeURIComponent(`sum:${metric}{*}`)}`, {
        headers: management,
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { series: Array<{ pointlist: Array<[number, number]> }> };
      const stored = body.series[0]?.pointlist.map(([, value]) => value) ?? [];
      assert.deepEqual(stored, values, `${metric}: ${values.length} acknowledged, ${stored.length} stored`);
    }
    process.stdout.write(
      `# acknowledged ${[...acknowledged.values()].reduce((n, a) => n + a.length, 0)} points; intake ${JSON.stringify([...statuses.intake])}; management ${JSON.stringify([...statuses.management])}\n`,
    );
  });
});
