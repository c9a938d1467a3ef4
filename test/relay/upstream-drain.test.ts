/**
 * `rekey upstream drain --spool DIR` (issue 19 Build 7, docs/scaling.md "Losing a node"), with
 * real processes and no mock in the data path: a relay node (PostgreSQL shared by the nodes,
 * its spool in its own data directory) acknowledges payloads while its upstream — a second
 * rekey server in standalone mode, the "Datadog" — is down, and is SIGKILLed. The upstream
 * comes back; from another data directory, `rekey upstream drain` delivers the lost node's
 * spool through the deployment's upstream settings. First with a refused upstream key (it
 * waits, reports, exits 1 at its timeout; nothing is lost), then waiting on a refused key
 * until `rekey upstream set` gives the working one, then again (nothing left, nothing sent
 * twice). Points stored upstream (read back through its /api/v1/query) == acknowledged.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneLineError } from '../support/cli.js';
import { freePort } from '../support/free-port.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { rekeyCommand, repoRoot, runRekey, type RunResult } from '../support/processes.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually, post, relayDirs, relayEnv, setUpstream, startNode, startRecorder, type Recorder, type RekeyNode } from './relay-support.js';

const METRIC = 'relay.drain.points';
const WRONG_KEY = 'w'.repeat(28) + 'wrng';

describe("rekey upstream drain: a lost relay node's spool delivered from another data directory", () => {
  let database: TestDatabase;
  let relay: RekeyNode;
  let upstream: ServerProcess;
  let upstreamPort = 0;
  const upstreamDir = join(relayDirs(), 'datadog');
  let upstreamKey = '';
  let upstreamAppKey = '';
  /** The other node's data directory (same database): where drain runs from. */
  const otherDataDir = join(relayDirs(), 'other-node');
  let spoolDir = '';
  let acknowledged = 0;
  const start = Math.floor(Date.now() / 1000) - 1800;

  const startUpstream = () => startServerProcess({ args: ['--data', upstreamDir, '--port', String(upstreamPort), '--log-level', 'warn'], env: relayEnv() });
  const drainEnv = () => ({ ...relay.env });
  function drain(args: string[] = []): Promise<RunResult> {
    return runRekey(['upstream', 'drain', '--data', otherDataDir, '--spool', spoolDir, ...args], { env: drainEnv(), timeoutMs: 120_000 });
  }
  async function storedUpstream(): Promise<number> {
    const query = encodeURIComponent(`sum:${METRIC}{*}.as_count()`);
    const response = await fetch(`${upstream.url}/api/v1/query?from=${start - 60}&to=${Math.floor(Date.now() / 1000) + 60}&query=${query}`, {
      headers: { 'dd-api-key': upstreamKey, 'dd-application-key': upstreamAppKey },
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { series: Array<{ pointlist: Array<[number, number | null]> }> };
    return body.series.reduce((sum, series) => sum + series.pointlist.reduce((s, [, value]) => s + (value ?? 0), 0), 0);
  }
  const setUpstreamKey = (key: string) => setUpstream(relay, `http://127.0.0.1:${upstreamPort}`, key);

  before(async () => {
    database = await createTestDatabase();
    upstreamPort = await freePort();
    upstream = await startUpstream();
    upstreamKey = upstream.credentials!.apiKey!.key;
    upstreamAppKey = upstream.credentials!.appKey!;
    // "Datadog" goes down before the relay forwards anything: every payload stays in the spool.
    await upstream.stop();
    relay = await startNode(join(relayDirs(), 'lost-node'), relayEnv({ REKEY_DATABASE_URL: database.url }));
    spoolDir = join(relay.dataDir, 'relay-spool');
    await setUpstreamKey(upstreamKey);
    const metrics = async (name: string) =>
      Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${relay.server.url}/metrics`)).text())?.[1] ?? 0);
    // Relay mode reaches the node within its poll interval: payloads before that were stored locally, not counted.
    let sent = 0;
    const postPoint = async () => {
      const body = JSON.stringify({
        series: [{ metric: METRIC, type: 1, points: [{ timestamp: start + sent++, value: 1 }], resources: [{ name: 'drain-host', type: 'host' }] }],
      });
      const response = await fetch(`${relay.server.url}/api/v2/series`, {
        method: 'POST',
        headers: { 'dd-api-key': relay.apiKey, 'content-type': 'application/json' },
        body,
      });
      await response.arrayBuffer();
      return response.status;
    };
    await eventually(async () => (await postPoint()) === 202 && (await metrics('rekey_relay_accepted_total')) > 0, 'relay mode in effect');
    acknowledged = 1;
    for (let i = 0; i < 40; i++) if ((await postPoint()) === 202) acknowledged += 1;
    await eventually(async () => (await metrics('rekey_relay_spool_payloads')) === acknowledged, 'every acknowledged payload in the spool');
    await relay.server.stop('SIGKILL');
    upstream = await startUpstream();
  });
  after(async () => {
    await relay?.server.stop();
    await upstream?.stop();
    await database?.drop();
  });

  it('refused upstream key: drain waits, reports the refusal and what is left, exits 1 at its timeout; nothing is lost', { timeout: 120_000 }, async () => {
    await setUpstreamKey(WRONG_KEY);
    const result = await drain(['--timeout', '3s']);
    assertOneLineError(
      result,
      1,
      new RegExp(`${acknowledged} of ${acknowledged} payload\\(s\\) still undelivered after 3s \\(.*refuses the upstream API key \\(…wrng, answer 403\\)`),
    );
    assert.match(result.stdout, new RegExp(`${acknowledged} undelivered payload\\(s\\) in ${spoolDir} for 1 organization`));
    assert.match(result.stdout, /waiting: .*refuses the upstream API key/);
    assert.doesNotMatch(result.stdout + result.stderr, /w{28}wrng/, 'the key never shows');
    assert.equal(await storedUpstream(), 0);
    assert.equal(existsSync(join(spoolDir, 'drain.lock')), false, 'the lock is released');
  });

  it('waits on the refused key until rekey upstream set gives the working one, then delivers every payload once', { timeout: 120_000 }, async () => {
    const [command, ...args] = [...rekeyCommand, 'upstream', 'drain', '--data', otherDataDir, '--spool', spoolDir, '--timeout', '90s'];
    const child = spawn(command!, args, { cwd: repoRoot, env: drainEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await eventually(() => /waiting: .*refuses the upstream API key/.test(stdout) || child.exitCode !== null, 'drain holding on the refused key', 60_000);
    assert.equal(child.exitCode, null, `${stdout}\n${stderr}`);
    const again = await drain(['--timeout', '1s']);
    assertOneLineError(again, 2, /another rekey upstream drain \(pid \d+\) is draining/);
    await setUpstreamKey(upstreamKey);
    assert.equal(await exited, 0, `${stdout}\n${stderr}`);
    process.stdout.write(stdout.replace(/^(?=.)/gm, '# drain: '));
    assert.match(stdout, new RegExp(`Delivered ${acknowledged} of ${acknowledged} payload\\(s\\); 0 dead-lettered; 0 left\\.`));
    const stored = await storedUpstream();
    process.stdout.write(`# ${acknowledged} payloads acknowledged by the lost node, ${stored} points stored upstream after the drain\n`);
    assert.equal(stored, acknowledged, 'every acknowledged point stored upstream exactly once');
  });

  it('run again: nothing left to deliver, nothing sent twice', { timeout: 60_000 }, async () => {
    const result = await drain(['--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { found: number; delivered: number; remaining: number };
    assert.deepEqual([report.found, report.delivered, report.remaining], [0, 0, 0]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await storedUpstream(), acknowledged);
  });
});

describe("rekey upstream drain: the relay's delivery rules (a recording upstream counts every request)", () => {
  let relay: RekeyNode;
  let recorder: Recorder;
  const copy = join(relayDirs(), 'copied-spool');
  const bodies: string[] = [];

  before(async () => {
    recorder = await startRecorder();
    await recorder.close(); // the upstream is down while the relay acknowledges
    relay = await startNode();
    await setUpstream(relay, recorder.url, 'u'.repeat(28) + 'upst');
    await eventually(
      async () =>
        (await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[{"message":"probe"}]')) === 202 &&
        /^rekey_relay_accepted_total [1-9]/m.test(await (await fetch(`${relay.server.url}/metrics`)).text()),
      'relay mode in effect',
    );
    bodies.push('[{"message":"probe"}]');
    for (let i = 0; i < 9; i++) {
      const body = `[{"message":"${i % 4 === 0 ? 'bad' : 'good'} ${i}"}]`;
      assert.equal(await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, body), 202);
      bodies.push(body);
    }
    await relay.server.stop('SIGKILL');
    // What an operator does with a lost node's disk: copy its spool somewhere the drain can read it.
    cpSync(join(relay.dataDir, 'relay-spool'), copy, { recursive: true });
    await recorder.reopen();
  });
  after(async () => {
    await recorder.close();
  });

  it('429 + Retry-After waited for, 400 kept as dead letters, each accepted payload sent once; a re-run sends nothing', { timeout: 120_000 }, async () => {
    // The first burst (the payloads sent at once, up to the delivery concurrency) is throttled.
    let firstAt: number | undefined;
    let throttled = 0;
    let retried: number | undefined;
    recorder.answer = (request) => {
      firstAt ??= Date.now();
      if (Date.now() - firstAt < 300) {
        throttled = Date.now();
        return { status: 429, retryAfter: '1' };
      }
      retried ??= Date.now();
      return { status: request.body.toString().includes('bad') ? 400 : 202 };
    };
    const result = await runRekey(['upstream', 'drain', '--data', relay.dataDir, '--spool', copy, '--timeout', '60s'], { env: relay.env, timeoutMs: 90_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const bad = bodies.filter((body) => body.includes('bad')).length;
    assert.match(result.stdout, new RegExp(`Delivered ${bodies.length - bad} of ${bodies.length} payload\\(s\\); ${bad} dead-lettered; 0 left\\.`));
    const accepted = recorder.requests.filter((r) => r.status === 202).map((r) => r.body.toString());
    assert.deepEqual([...accepted].sort(), bodies.filter((body) => !body.includes('bad')).sort(), 'every good payload accepted exactly once');
    // Retry-After: 1 (the relay's own backoff here is capped at 300 ms: REKEY_RELAY_RETRY_MAX_MS).
    assert.ok(retried! - throttled >= 900, `the next request came ${retried! - throttled} ms after the last 429 with Retry-After: 1`);
    const letters = await runRekey(['upstream', 'dead-letters', '--json'], { env: { ...relay.env, REKEY_RELAY_SPOOL_DIR: copy } });
    assert.deepEqual(
      (JSON.parse(letters.stdout) as Array<{ status: number }>).map((letter) => letter.status),
      Array(bad).fill(400),
    );
    const seen = recorder.requests.length;
    const again = await runRekey(['upstream', 'drain', '--data', relay.dataDir, '--spool', copy, '--json'], { env: relay.env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { found: number }).found, 0);
    assert.equal(recorder.requests.length, seen, 'nothing sent again');
  });
});
