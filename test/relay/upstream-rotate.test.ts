/**
 * `rekey upstream rotate` (issue 19) against a second rekey server in standalone mode as the
 * "Datadog" upstream, no mock in the data path: the official client's submitMetrics keeps
 * sending through the relay during every rotation. Afterwards the relay forwards with a new
 * upstream key, the old one is revoked upstream, and every acknowledged point is stored
 * upstream exactly once (acknowledged vs read back). Variants: the rotate command SIGKILLed
 * after creating the key (resumed with --resume; a plain second run is refused meanwhile),
 * SIGKILLed between the create request and its journal entry (the orphan key is revoked), and
 * a rotation left unfinished elsewhere, refused before anything changes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import { DatadogClient } from '../../src/rotate/datadog-client.js';
import { rekeyCommand, repoRoot, runRekey, type RunResult } from '../support/processes.js';
import { eventually, setUpstream, startNode, type RekeyNode } from './relay-support.js';

function clientFor(node: RekeyNode, apiKey = node.apiKey): client.Configuration {
  return client.createConfiguration({
    authMethods: { apiKeyAuth: apiKey, appKeyAuth: node.appKey },
    baseServer: new client.BaseServerConfiguration(node.server.url, {}),
    enableRetry: false,
  });
}

describe('rekey upstream rotate against a second rekey as the upstream, agents sending throughout', () => {
  let upstream: RekeyNode;
  let relay: RekeyNode;
  /** A key of the upstream organisation the rotations never touch: the test reads the upstream with it. */
  let observer: DatadogClient;
  let observerKey = '';
  const metric = `relay.rotate.m${Date.now()}`;
  /** Points go at distinct seconds from 50 min ago (inside the upstream's 1 h window), a new series every 2,400. */
  const start = Math.floor(Date.now() / 1000) - 3000;
  let acknowledged = 0;
  let sent = 0;
  let sending = false;
  let sender: Promise<void> = Promise.resolve();

  /** One count point of 1 per request, each at its own second, through the relay. */
  function startSending(): void {
    sending = true;
    const api = new v2.MetricsApi(clientFor(relay));
    sender = (async () => {
      while (sending) {
        const timestamp = start + (sent % 2400);
        const tags = [`round:${Math.floor(sent / 2400)}`];
        sent += 1;
        try {
          await api.submitMetrics({
            body: { series: [{ metric, type: 1, points: [{ timestamp, value: 1 }], tags, resources: [{ name: 'rotate-host', type: 'host' }] }] },
          });
          acknowledged += 1;
        } catch {
          // not acknowledged: an agent would keep it
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
  }
  async function stopSending(): Promise<void> {
    sending = false;
    await sender;
  }
  async function storedUpstream(name = metric): Promise<number> {
    const answer = await new v1.MetricsApi(clientFor(upstream, observerKey)).queryMetrics({
      from: start - 60,
      to: Math.floor(Date.now() / 1000) + 60,
      query: `sum:${name}{*}.as_count()`,
    });
    let sum = 0;
    for (const series of answer.series ?? []) for (const point of series.pointlist ?? []) sum += point[1] ?? 0;
    return sum;
  }
  async function relayLast4(): Promise<string> {
    const shown = await runRekey(['upstream', 'show', '--data', relay.dataDir, '--org', relay.orgName, '--json'], { env: relay.env });
    return (JSON.parse(shown.stdout) as { api_key_last4: string }).api_key_last4;
  }
  /** `GET /api/v1/validate` upstream with `apiKey`: the status. */
  async function validate(apiKey: string): Promise<number> {
    const response = await fetch(`${upstream.server.url}/api/v1/validate`, { headers: { 'dd-api-key': apiKey } });
    await response.arrayBuffer();
    return response.status;
  }
  function rotate(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return runRekey(['upstream', 'rotate', '--data', relay.dataDir, '--org', relay.orgName, '--settle', '30s', ...args], {
      env: { ...relay.env, DD_APP_KEY: upstream.appKey, ...env },
      timeoutMs: 120_000,
    });
  }
  /** Runs rotate with a pause at `step`, waits for it there and SIGKILLs it. */
  async function rotateKilledAt(step: string): Promise<void> {
    const [command, ...args] = [...rekeyCommand, 'upstream', 'rotate', '--data', relay.dataDir, '--org', relay.orgName, '--settle', '30s'];
    const child = spawn(command!, args, {
      cwd: repoRoot,
      env: { ...relay.env, DD_APP_KEY: upstream.appKey, REKEY_UPSTREAM_ROTATE_PAUSE_AFTER: step },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await eventually(() => output.includes(`paused after step "${step}"`) || child.exitCode !== null, `rotate paused after ${step}`, 60_000);
    assert.match(output, new RegExp(`paused after step "${step}"`), output);
    child.kill('SIGKILL');
    await exited;
  }
  const journalOf = () =>
    JSON.parse(readFileSync(join(relay.dataDir, `upstream-rotate-${relay.orgId}.journal.json`), 'utf8')) as {
      rotation_id: string;
      step: string;
      new_key_name: string;
      new_key?: { id: string; last4: string; encrypted?: string };
      old_key: { id: string; last4: string };
      notes: string[];
    };

  before(async () => {
    [upstream, relay] = await Promise.all([startNode(), startNode()]);
    const admin = new DatadogClient({ url: upstream.server.url, apiKey: upstream.apiKey, appKey: upstream.appKey });
    observerKey = (await admin.createApiKey('test observer')).key;
    observer = new DatadogClient({ url: upstream.server.url, apiKey: observerKey, appKey: upstream.appKey });
    await setUpstream(relay, upstream.server.url, upstream.apiKey);
    // Relay mode reaches the node within its poll interval; until then points land in the relay:
    // a probe metric per try until one reaches the upstream, then the counted stream starts.
    const api = new v2.MetricsApi(clientFor(relay));
    await eventually(
      async () => {
        const probe = `relay.rotate.probe${Date.now()}`;
        await api.submitMetrics({ body: { series: [{ metric: probe, type: 1, points: [{ timestamp: start, value: 1 }] }] } });
        await new Promise((resolve) => setTimeout(resolve, 300));
        return (await storedUpstream(probe)) === 1;
      },
      'relay mode in effect',
      30_000,
    );
    startSending();
  });
  after(async () => {
    await stopSending();
    await Promise.all([relay.server.stop(), upstream.server.stop()]);
  });

  /** Stops the sender and checks that every acknowledged point is stored upstream, once. */
  async function assertNothingLost(): Promise<void> {
    await stopSending();
    await eventually(
      async () => (await storedUpstream()) >= acknowledged,
      `all ${acknowledged} acknowledged points upstream (${await storedUpstream()} there)`,
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // nothing more may arrive
    const stored = await storedUpstream();
    process.stdout.write(`# ${sent} sent, ${acknowledged} acknowledged, ${stored} stored upstream\n`);
    assert.equal(stored, acknowledged, 'every acknowledged point stored upstream exactly once');
    startSending();
  }

  it('rotates: a new upstream key in use, the old one revoked upstream, no point lost', { timeout: 180_000 }, async () => {
    const oldLast4 = upstream.apiKey.slice(-4);
    assert.equal(await relayLast4(), oldLast4);
    const result = await rotate();
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /1\/4 created upstream key …\w{4}[\s\S]*2\/4[\s\S]*3\/4 a service check was accepted[\s\S]*4\/4 revoked the old upstream key …/,
    );
    assert.match(
      result.stdout,
      new RegExp(`3/4 [^\n]*; confirmed by 1 relay node \\([^)]+-${relay.server.child.pid}-[0-9a-f]{8}\\)`),
      'the relay node (its id carries its process id) confirmed the new key before the old one was revoked',
    );
    assert.ok(!result.stdout.includes(upstream.apiKey) && !result.stderr.includes(upstream.apiKey), 'the old key never printed');
    const journal = journalOf();
    assert.equal(journal.step, 'completed');
    assert.equal(journal.new_key?.encrypted, undefined, 'the completed journal holds no key, even encrypted');
    const newLast4 = await relayLast4();
    assert.equal(newLast4, journal.new_key!.last4);
    assert.notEqual(newLast4, oldLast4);
    assert.equal(await validate(upstream.apiKey), 403, 'the old key is revoked upstream');
    const keys = await observer.listApiKeys();
    const fresh = keys.filter((key) => key.name === journal.new_key_name);
    assert.deepEqual(
      fresh.map((key) => [key.id, key.active]),
      [[journal.new_key!.id, true]],
      'one new key, active',
    );
    assert.ok(!keys.some((key) => key.id === journal.old_key.id && key.active), 'the old key is not active upstream');
    // Points keep flowing with the new key (the old one is revoked: any later point proves it).
    const before = await storedUpstream();
    await eventually(async () => (await storedUpstream()) > before + 5, 'points still arrive after the revocation');
    await assertNothingLost();
  });

  it('SIGKILLed after creating the key: a second rotate is refused, --resume finishes it with the same key', { timeout: 180_000 }, async () => {
    const oldLast4 = await relayLast4();
    await rotateKilledAt('created');
    const journal = journalOf();
    assert.equal(journal.step, 'created');
    assert.ok(journal.new_key?.encrypted?.startsWith('v1:'), 'the unfinished journal holds the new key encrypted');
    const again = await rotate();
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already in progress.*--resume/);
    const resumed = await rotate(['--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /Resuming upstream rotation .* after step "created"/);
    assert.doesNotMatch(resumed.stdout, /1\/4 created/, 'no second key created');
    const done = journalOf();
    assert.equal(done.step, 'completed');
    assert.equal(await relayLast4(), journal.new_key!.last4);
    const keys = await observer.listApiKeys();
    assert.equal(keys.filter((key) => key.name === journal.new_key_name).length, 1, 'one key created for this rotation');
    assert.ok(!keys.some((key) => key.id === journal.old_key.id && key.active), `the old key …${oldLast4} revoked`);
    assert.equal((await rotate(['--resume'])).code, 2, 'nothing left to resume');
    await assertNothingLost();
  });

  it('SIGKILLed between the create request and its journal entry: the orphan key is revoked, one new key used', { timeout: 180_000 }, async () => {
    await rotateKilledAt('create-request');
    const journal = journalOf();
    assert.equal(journal.step, 'creating_key');
    const orphans = (await observer.listApiKeys()).filter((key) => key.name === journal.new_key_name && key.active);
    assert.equal(orphans.length, 1, 'the killed run created a key it did not record');
    const resumed = await rotate(['--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /Revoked key …\w{4}, created upstream by an interrupted run/);
    const done = journalOf();
    const named = (await observer.listApiKeys()).filter((key) => key.name === journal.new_key_name);
    assert.deepEqual(
      named.filter((key) => key.active).map((key) => key.id),
      [done.new_key!.id],
      'only the recorded key is active',
    );
    assert.ok(!named.some((key) => key.id === orphans[0]!.id && key.active), 'the orphan is revoked');
    assert.equal(await relayLast4(), done.new_key!.last4);
    await assertNothingLost();
  });

  it("a rotation unfinished elsewhere (its key active upstream, not the relay's) is refused before anything changes", { timeout: 120_000 }, async () => {
    const before = await relayLast4();
    const stray = await observer.createApiKey('rekey relay upstream 20260101-abcdef');
    const refused = await rotate();
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `stopped at step "plan": upstream key …${stray.last4} \\("rekey relay upstream 20260101-abcdef"\\) was created by a rotation that did not finish`,
      ),
    );
    assert.equal(await relayLast4(), before, 'the relay keeps its key');
    assert.equal((await observer.listApiKeys()).filter((key) => key.active && key.name.startsWith('rekey relay upstream ')).length, 2, 'no key created');
    await observer.revokeApiKey(stray.id);
  });
});

describe('rekey upstream rotate: durations it refuses before touching anything', () => {
  it('--settle and --accept-timeout must be durations of at most a day: exit 2, a usage error naming the flag', async () => {
    const env = { DD_APP_KEY: 'a'.repeat(40), REKEY_DATABASE_URL: '', REKEY_DATA: '/nonexistent/rekey-usage-test' };
    const cases: Array<[string[], RegExp]> = [
      [['--settle', 'garbage'], /--settle "garbage" is not a duration/],
      [['--settle', '999999h'], /--settle "999999h" is longer than a day/],
      [['--settle', `1${'0'.repeat(400)}`], /--settle "10+" is longer than a day/],
      [['--accept-timeout', '25h'], /--accept-timeout "25h" is longer than a day/],
    ];
    for (const [args, message] of cases) {
      const result = await runRekey(['upstream', 'rotate', '--org', 'acme', ...args], { env });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });
});
