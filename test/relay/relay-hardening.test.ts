/**
 * Relay hardening (issue 19, found by a hostile try): one organisation cannot fill the spool
 * for all; `/healthz` turns degraded when the upstream has been unreachable for long;
 * `rekey upstream set` refuses unknown Datadog sites and plain http to another machine; and a
 * working key set while deliveries with the refused one are still in flight wakes delivery at
 * once instead of after the refused-key recheck.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RelaySpool } from '../../src/relay/relay-spool.js';
import { newPayloadId, type SpooledPayload } from '../../src/relay/spool-record.js';
import { assertOneLineError } from '../support/cli.js';
import { runRekey } from '../support/processes.js';
import { eventually, post, relayDirs, relayEnv, setUpstream, startNode, startRecorder, type Recorder, type RekeyNode } from './relay-support.js';

function payload(orgId: string, bytes: number): SpooledPayload {
  return {
    id: newPayloadId(),
    orgId,
    kind: 'metrics',
    path: '/api/v1/series',
    headers: [['content-type', 'application/json']],
    receivedAt: Date.now(),
    body: Buffer.alloc(bytes, 0x61),
  };
}

/** Accepts payloads of `orgId` until the spool refuses one, then waits for their write; returns how many it took. */
async function fill(spool: RelaySpool, orgId: string, relayOrgs: number, bytes = 900): Promise<number> {
  const written: Array<Promise<void>> = [];
  for (;;) {
    try {
      written.push(spool.accept(payload(orgId, bytes), relayOrgs));
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'RELAY_SPOOL_FULL');
      await Promise.all(written);
      return written.length;
    }
  }
}

describe('the spool is shared fairly between organisations', () => {
  it('alone, an organisation may use the whole spool', async () => {
    const { spool } = RelaySpool.open(join(relayDirs(), 'spool'), { maxBytes: 100_000 });
    try {
      await fill(spool, 'org-a', 1);
      assert.ok(spool.bytes > 95_000, `used ${spool.bytes} of 100,000 bytes`);
    } finally {
      spool.close();
    }
  });

  it('with two relay organisations, one whose upstream is down gets its share and the other is still accepted', async () => {
    const { spool } = RelaySpool.open(join(relayDirs(), 'spool'), { maxBytes: 100_000 });
    try {
      await fill(spool, 'org-a', 2);
      assert.ok(spool.bytesOf('org-a') <= 50_000 && spool.bytesOf('org-a') > 45_000, `org-a holds ${spool.bytesOf('org-a')} bytes, about its half`);
      const bTook = await fill(spool, 'org-b', 2);
      assert.ok(spool.bytesOf('org-b') > 45_000, `org-b got its half too (${bTook} payloads, ${spool.bytesOf('org-b')} bytes)`);
      assert.ok(spool.bytes <= 100_000);
    } finally {
      spool.close();
    }
  });

  it('an organisation that filled the spool while alone takes no more once another needs room; the other gets the room left', async () => {
    const { spool } = RelaySpool.open(join(relayDirs(), 'spool'), { maxBytes: 100_000 });
    try {
      await fill(spool, 'org-a', 1, 900);
      const aBytes = spool.bytesOf('org-a');
      // A second organisation enters relay mode: org-a is over its share and may not grow.
      assert.equal(await fill(spool, 'org-a', 2, 100), 0, 'org-a is over its share: refused');
      // org-b still gets what the spool has left (the acknowledged payloads of org-a stay).
      const free = 100_000 - aBytes;
      const small = await fill(spool, 'org-b', 2, 10);
      assert.ok(small > 0 || free < 100, `org-b took ${small} small payloads into ${free} free bytes`);
      assert.equal(spool.bytesOf('org-a'), aBytes, 'nothing of org-a was dropped');
    } finally {
      spool.close();
    }
  });

  it('many relay organisations, one upstream down: it gets half, the other half stays for the rest', async () => {
    const { spool } = RelaySpool.open(join(relayDirs(), 'spool'), { maxBytes: 100_000 });
    try {
      await fill(spool, 'org-a', 50);
      assert.ok(spool.bytesOf('org-a') <= 50_000 && spool.bytesOf('org-a') > 45_000, `org-a holds ${spool.bytesOf('org-a')} bytes`);
      // A second organisation's upstream fails too: the shares are now a third each (a, b, the idle ones).
      await fill(spool, 'org-b', 50);
      assert.ok(spool.bytesOf('org-b') > 30_000, `org-b got ${spool.bytesOf('org-b')} bytes`);
      // A third still finds room: at least the idle organisations' share was kept.
      await fill(spool, 'org-c', 50);
      assert.ok(spool.bytesOf('org-c') > 15_000, `org-c got ${spool.bytesOf('org-c')} bytes`);
      assert.ok(spool.bytes <= 100_000);
    } finally {
      spool.close();
    }
  });
});

describe('rekey upstream set refuses what it cannot mean', () => {
  let node: RekeyNode;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node.server.stop();
  });

  const set = (site: string, extra: string[] = []) =>
    runRekey(['upstream', 'set', '--data', node.dataDir, '--org', node.orgName, '--site', site, '--key-stdin', ...extra], {
      input: 'k'.repeat(32),
      env: node.env,
    });

  it('an unknown Datadog site (a typo) is refused; a known one and a full URL are accepted', async () => {
    assertOneLineError(await set('datadoghq.con'), 2, /"datadoghq\.con" is not a Datadog site.*datadoghq\.eu.*full https:\/\/ URL/);
    assertOneLineError(await set('app.datadoghq.eu'), 2, /give the site itself/);
    const shown = await runRekey(['upstream', 'show', '--data', node.dataDir, '--org', node.orgName], { env: node.env });
    assert.notEqual(shown.code, 0, 'nothing was stored by the refused commands');
    assert.equal((await set('datadoghq.eu')).code, 0);
    const show = JSON.parse((await runRekey(['upstream', 'show', '--data', node.dataDir, '--org', node.orgName, '--json'], { env: node.env })).stdout) as {
      urls: { metrics: string };
    };
    assert.equal(show.urls.metrics, 'https://api.datadoghq.eu');
    assert.equal((await set('https://vector.internal.example:8282', ['--mode', 'standalone'])).code, 0);
  });

  it('plain http to another machine is refused unless --allow-insecure; http to this machine is accepted', async () => {
    assertOneLineError(await set('http://vector.internal.example:8282', ['--mode', 'standalone']), 2, /plain http.*--allow-insecure/);
    assertOneLineError(
      await set('https://vector.internal.example', ['--mode', 'standalone', '--logs-url', 'http://10.0.0.5:8080']),
      2,
      /--logs-url.*plain http/,
    );
    assert.equal((await set('http://vector.internal.example:8282', ['--mode', 'standalone', '--allow-insecure'])).code, 0);
    assert.equal((await set('http://127.0.0.1:9', ['--mode', 'standalone'])).code, 0);
    assert.equal((await set('http://localhost:9', ['--mode', 'standalone'])).code, 0);
  });
});

describe('relay delivery: degraded when the upstream is long unreachable; a new key wakes a held delivery at once', () => {
  let relay: RekeyNode;
  let recorder: Recorder;
  const GOOD_KEY = 'g'.repeat(28) + 'good';
  const REVOKED_KEY = 'r'.repeat(28) + 'revk';
  const acknowledged = new Set<string>();
  let next = 0;
  /** While set, 403 answers wait for it: the test decides when the refused key's answers come back. */
  let gate: { promise: Promise<void>; open: () => void } | undefined;

  async function send(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const body = JSON.stringify({ series: [{ metric: 'relay.hardening', points: [[1, next]] }], n: next++ });
      assert.equal(await post(`${relay.server.url}/api/v1/series`, relay.apiKey, body), 202);
      acknowledged.add(body);
    }
  }
  const allArrived = () => {
    const got = new Set(recorder.requests.filter((r) => r.status < 300).map((r) => r.body.toString()));
    return [...acknowledged].every((body) => got.has(body));
  };
  const health = async () => (await (await fetch(`${relay.server.url}/healthz`)).json()) as { status: string; errors?: string[] };

  before(async () => {
    recorder = await startRecorder();
    recorder.answer = (request) =>
      request.headers['dd-api-key'] === GOOD_KEY ? { status: 202 } : { status: 403, ...(gate === undefined ? {} : { until: gate.promise }) };
    // A refused key is re-tried only every 60 s and the backoff cap is 60 s: any wake-up within
    // seconds below comes from the key change itself. Degraded after 1 s of waiting.
    relay = await startNode(
      join(relayDirs(), 'data'),
      relayEnv({ REKEY_RELAY_KEY_RECHECK_MS: '60000', REKEY_RELAY_RETRY_MAX_MS: '60000', REKEY_RELAY_DEGRADED_AFTER_MS: '1000' }),
    );
    await setUpstream(relay, recorder.url, GOOD_KEY);
    await eventually(
      async () => (await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[]')) === 202 && recorder.requests.length > 0,
      'relay mode in effect',
    );
  });
  after(async () => {
    await relay.server.stop();
    await recorder.close();
  });

  it('upstream unreachable: /healthz degraded once the oldest payload waits over the threshold; ok again once delivered', async () => {
    await eventually(async () => (await health()).status === 'ok', '/healthz ok to begin with');
    await recorder.close();
    await send(3);
    await eventually(async () => (await health()).status === 'degraded', '/healthz degraded', 15_000);
    assert.match((await health()).errors!.join(' '), /oldest undelivered payload has waited \d+ s, over 1 s \(last answer: no answer/);
    const age = new RegExp(`rekey_relay_oldest_payload_seconds\\{org="${relay.orgId}"\\} ([\\d.]+)`).exec(
      await (await fetch(`${relay.server.url}/metrics`)).text(),
    );
    assert.ok(age !== null && Number(age[1]) > 1, `the oldest-payload gauge shows the wait: ${age?.[1]}`);
    await recorder.reopen();
    // The backoff may be long here (cap 60 s): `rekey upstream set` of the same upstream wakes it.
    await setUpstream(relay, recorder.url, GOOD_KEY, ['--mode', 'relay']);
    await eventually(allArrived, 'delivered after the outage', 15_000);
    await eventually(async () => (await health()).status === 'ok', '/healthz ok again');
    assert.match(await (await fetch(`${relay.server.url}/metrics`)).text(), new RegExp(`rekey_relay_oldest_payload_seconds\\{org="${relay.orgId}"\\} 0\n`));
  });

  it('a working key set while payloads with the refused one are in flight: delivery resumes at once, not after the 60 s recheck', async () => {
    let open = () => {};
    gate = { promise: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
    await setUpstream(relay, recorder.url, REVOKED_KEY);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the relay re-reads upstreams every 100 ms here
    await send(10);
    // Eight payloads are in flight with the refused key, their answers held back; the working
    // key is set and picked up (every 100 ms here) before their 403s arrive.
    await setUpstream(relay, recorder.url, GOOD_KEY);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const openedAt = Date.now();
    gate.open();
    gate = undefined;
    await eventually(allArrived, 'delivered with the working key within 5 s', 5_000);
    process.stdout.write(`# delivery done ${Date.now() - openedAt} ms after the refused key's answers came back\n`);
    assert.ok(
      recorder.requests.some((r) => r.status === 403),
      'the refused key was refused',
    );
  });
});
