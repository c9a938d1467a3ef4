/**
 * `rekey upstream rotate` revokes the old upstream key only once every live relay node confirms
 * it forwards with the new one (issue 19; migration 012's heartbeat). Real processes, no mock:
 * two `rekey server` relay nodes on one PostgreSQL database (each its own data directory and
 * spool), a third rekey server in standalone mode (SQLite) as the "Datadog" upstream, and the
 * real CLI. The nodes re-read their upstream every 200 ms (REKEY_RELAY_POLL_MS) and report it.
 *
 *  - both nodes live: the rotation completes once both confirmed, and its progress line names
 *    both (node ids carry the process id);
 *  - one node SIGSTOPped just before the rotation (it stays live by its last report, within the
 *    10 s window — 3 × 200 ms is less — for longer than the rotation's 1 s settle, but cannot
 *    switch): the rotation fails with UPSTREAM_NODES_LAGGING naming that node, the old key stays
 *    active upstream and the journal at `switched`; after SIGCONT, `--resume` completes with both
 *    nodes confirmed;
 *  - a node stopped with SIGTERM removes its heartbeat rows, so no rotation waits for it;
 *  - a node SIGKILLed just before the rotation (its rows stay) is waited for until its 10 s window
 *    runs out, then not: the rotation completes within its 30 s settle without --resume, and says
 *    the node stopped reporting.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatadogClient } from '../../src/rotate/datadog-client.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runRekey, type RunResult } from '../support/processes.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually, relayDirs, relayEnv, setUpstream, startNode, type RekeyNode } from './relay-support.js';

describe('rekey upstream rotate waits for every live relay node (PostgreSQL, two nodes)', () => {
  let database: TestDatabase;
  let store: Store;
  let upstream: RekeyNode;
  let nodeA: RekeyNode;
  let nodeB: ServerProcess;
  let nodeC: ServerProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let observer: DatadogClient;
  let stoppedB = false;
  const pid = (child: { pid?: number | undefined }) => child.pid!;

  function rotate(args: string[]): Promise<RunResult> {
    return runRekey(['upstream', 'rotate', '--data', nodeA.dataDir, '--org', nodeA.orgName, ...args], {
      env: { ...nodeA.env, DD_APP_KEY: upstream.appKey },
      timeoutMs: 120_000,
    });
  }
  const journal = () =>
    JSON.parse(readFileSync(join(nodeA.dataDir, `upstream-rotate-${nodeA.orgId}.journal.json`), 'utf8')) as {
      step: string;
      old_key: { id: string; last4: string };
      new_key?: { id: string; last4: string };
    };
  /** The node ids that reported for the organisation in the last 5 s, with their versions. */
  async function reports(): Promise<Array<{ nodeId: string; version: string }>> {
    return (await store.listRelayNodeUpstreams(nodeA.orgId)).filter((row) => row.ageMs < 5000).map(({ nodeId, version }) => ({ nodeId, version }));
  }
  const activeUpstream = async (id: string) => (await observer.listApiKeys()).some((key) => key.id === id && key.active);
  const noKeyIn = (result: RunResult) => assert.doesNotMatch(`${result.stdout}${result.stderr}`, /[0-9a-f]{32}/, 'no key in the output');

  before(async () => {
    database = await createTestDatabase();
    env = relayEnv({ REKEY_DATABASE_URL: database.url, REKEY_RELAY_POLL_MS: '200' });
    upstream = await startNode();
    nodeA = await startNode(join(relayDirs(), 'node-a'), env);
    nodeB = await startServerProcess({ args: ['--data', join(relayDirs(), 'node-b'), '--log-level', 'warn'], env });
    const admin = new DatadogClient({ url: upstream.server.url, apiKey: upstream.apiKey, appKey: upstream.appKey });
    observer = new DatadogClient({ url: upstream.server.url, apiKey: (await admin.createApiKey('test observer')).key, appKey: upstream.appKey });
    await setUpstream(nodeA, upstream.server.url, upstream.apiKey);
    store = await openStore({ databaseUrl: database.url });
    await eventually(async () => (await reports()).length === 2, 'both relay nodes report their upstream', 20_000);
  });
  after(async () => {
    if (stoppedB) process.kill(pid(nodeB.child), 'SIGCONT');
    await Promise.all([nodeA?.server.stop(), nodeB?.stop(), nodeC?.stop(), upstream?.server.stop()]);
    await store?.close();
    await database?.drop();
  });

  it('completes once both nodes confirmed the new key, naming both', { timeout: 120_000 }, async () => {
    const ids = (await reports()).map((r) => r.nodeId);
    assert.ok(ids.some((id) => id.includes(`-${pid(nodeA.server.child)}-`)) && ids.some((id) => id.includes(`-${pid(nodeB.child)}-`)), ids.join());
    const result = await rotate(['--settle', '30s']);
    assert.equal(result.code, 0, result.stderr);
    noKeyIn(result);
    const line = /^3\/4 .*$/m.exec(result.stdout)?.[0] ?? '';
    assert.match(line, /a service check was accepted upstream with key …\w{4}; confirmed by 2 relay nodes \(/, result.stdout);
    for (const id of ids) assert.ok(line.includes(id), `${id} named in: ${line}`);
    const done = journal();
    assert.equal(done.step, 'completed');
    assert.equal(await activeUpstream(done.old_key.id), false, 'the old key revoked upstream');
    const versions = new Set((await reports()).map((r) => r.version));
    assert.equal(versions.size, 1, 'both nodes on the same upstream version');
  });

  it('a node that cannot switch (SIGSTOPped) keeps the old key unrevoked; --resume after it is back completes', { timeout: 120_000 }, async () => {
    const idB = (await reports()).find((r) => r.nodeId.includes(`-${pid(nodeB.child)}-`))!.nodeId;
    const idA = (await reports()).find((r) => r.nodeId !== idB)!.nodeId;
    process.kill(pid(nodeB.child), 'SIGSTOP');
    stoppedB = true;
    const startedAt = Date.now();
    // A 1 s settle: node B's 10 s window (from its last report, at most 200 ms before the SIGSTOP) must not run
    // out before the wait ends, or B would be judged stopped and not waited for (the last test).
    const failed = await rotate(['--settle', '1s']);
    process.stdout.write(`# the failed rotation took ${Date.now() - startedAt} ms\n`);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    noKeyIn(failed);
    assert.match(
      failed.stdout,
      new RegExp(`waiting for [12] relay nodes? to switch to key …\\w{4} \\([^)]*${idB}`),
      'node A may not have switched yet at the first look',
    );
    const error = failed.stderr.trim();
    // Node A has confirmed by then on any sane machine (it read the switch by NOTIFY before the service check); on a loaded one it may not, and is then named too.
    const refused =
      /stopped at step "confirm": relay node\(s\) (.+) did not report forwarding with the new upstream key …\w{4} within 1s \(([01]) of 2 live nodes did\); the old key …\w{4} was not revoked/.exec(
        error,
      );
    assert.ok(refused, error);
    assert.ok(refused[1]!.includes(idB), error);
    if (refused[2] === '1') assert.ok(!refused[1]!.includes(idA), error);
    else process.stdout.write('# node A had not confirmed within 1 s either (a loaded machine)\n');
    const stuck = journal();
    assert.equal(stuck.step, 'switched', 'the journal stays at switched');
    assert.equal(await activeUpstream(stuck.old_key.id), true, 'the old key is still active upstream');
    assert.equal(await activeUpstream(stuck.new_key!.id), true);

    process.kill(pid(nodeB.child), 'SIGCONT');
    stoppedB = false;
    await eventually(async () => new Set((await reports()).map((r) => r.version)).size === 1, 'node B back on the new key', 20_000);
    const resumed = await rotate(['--resume', '--settle', '30s']);
    assert.equal(resumed.code, 0, resumed.stderr);
    noKeyIn(resumed);
    assert.match(resumed.stdout, /Resuming upstream rotation .* after step "switched"/);
    const line = /^3\/4 .*$/m.exec(resumed.stdout)?.[0] ?? '';
    assert.match(line, /confirmed by 2 relay nodes/, resumed.stdout);
    assert.ok(line.includes(idA) && line.includes(idB), line);
    assert.equal(journal().step, 'completed');
    assert.equal(await activeUpstream(stuck.old_key.id), false, 'the old key revoked once both confirmed');
    assert.equal(await activeUpstream(stuck.new_key!.id), true);
  });

  it('a node stopped gracefully forgets its heartbeat: a rotation does not wait for it', { timeout: 60_000 }, async () => {
    const idA = (await reports()).find((r) => r.nodeId.includes(`-${pid(nodeA.server.child)}-`))!.nodeId;
    assert.deepEqual(await nodeA.server.stop(), { code: 0, signal: null });
    const left = await store.listRelayNodeUpstreams(nodeA.orgId);
    assert.ok(!left.some((r) => r.nodeId === idA), `node A's rows are gone: ${left.map((r) => r.nodeId).join()}`);
    assert.equal(left.length, 1, 'node B still reports');
  });

  it('a node killed just before the rotation is not waited for once its window runs out: completes without --resume', { timeout: 120_000 }, async () => {
    // Node A was stopped gracefully (above); node B reports; node C starts, reports the current upstream, and is SIGKILLed.
    nodeC = await startServerProcess({ args: ['--data', join(relayDirs(), 'node-c'), '--log-level', 'warn'], env });
    const ofC = (r: { nodeId: string }) => r.nodeId.includes(`-${pid(nodeC!.child)}-`);
    await eventually(async () => (await reports()).some(ofC), 'node C reports its upstream', 20_000);
    const idC = (await reports()).find(ofC)!.nodeId;
    const idB = (await reports()).find((r) => r.nodeId.includes(`-${pid(nodeB.child)}-`))!.nodeId;
    assert.deepEqual(await nodeC.stop('SIGKILL'), { code: null, signal: 'SIGKILL' });
    const rowC = (await store.listRelayNodeUpstreams(nodeA.orgId)).find((r) => r.nodeId === idC);
    assert.ok(rowC !== undefined && rowC.ageMs < 10_000, "a killed node's rows stay, and it is live by its last report when the rotation starts");
    const startedAt = Date.now();
    const result = await rotate(['--settle', '30s']);
    const took = Date.now() - startedAt;
    process.stdout.write(`# the rotation with a killed node took ${took} ms\n`);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    noKeyIn(result);
    // Node B may not have read the switch yet at the first look (a loaded machine): then it is named too.
    assert.match(result.stdout, new RegExp(`waiting for [12] relay nodes? to switch to key …\\w{4} \\([^)]*${idC}`), result.stdout);
    assert.match(result.stdout, new RegExp(`relay node ${idC} stopped reporting 1\\ds ago \\(its window: 10s\\); not waited for`), result.stdout);
    const line = /^3\/4 .*$/m.exec(result.stdout)?.[0] ?? '';
    assert.ok(
      line.endsWith(`confirmed by 1 relay node (${idB}); 1 relay node stopped reporting and was not waited for (${idC}).`),
      `${line}\n${result.stdout}`,
    );
    assert.ok(took < 30_000, `done before the 30 s settle (${took} ms)`);
    const done = journal();
    assert.equal(done.step, 'completed');
    assert.equal(await activeUpstream(done.old_key.id), false, 'the old key revoked upstream');
    assert.equal(await activeUpstream(done.new_key!.id), true);
  });
});
