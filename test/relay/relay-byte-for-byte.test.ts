/**
 * Relay mode forwards every intake path byte for byte (issue 19): the body as the agent
 * compressed it, its describing headers kept, only the key replaced — seen by a recording
 * upstream (a real node:http server). Standalone organisations are untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync, deflateSync } from 'node:zlib';
import { eventually, post, setUpstream, startNode, startRecorder, type Recorder, type RekeyNode } from './relay-support.js';

describe('relay mode: byte for byte to a recording upstream', () => {
  let relay: RekeyNode;
  let recorder: Recorder;
  const UPSTREAM_KEY = 'a'.repeat(28) + 'up01';

  before(async () => {
    recorder = await startRecorder();
    relay = await startNode();
  });
  after(async () => {
    await relay.server.stop();
    await recorder.close();
  });

  it('an unknown /api path is 404 while no organisation is in relay mode', async () => {
    assert.equal(await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[]'), 404);
  });

  it('forwards series, sketches, check runs, host metadata, logs, traces and stats unchanged but for the key', async () => {
    const out = await setUpstream(relay, recorder.url, UPSTREAM_KEY);
    assert.match(out, /relay mode/);
    assert.doesNotMatch(out, new RegExp(UPSTREAM_KEY), 'the key is never printed');
    const series = JSON.stringify({ series: [{ metric: 'relay.test', points: [[Math.floor(Date.now() / 1000), 1.5]], host: 'h1', tags: ['a:b'] }] });
    const sent: Array<{ path: string; body: Buffer; headers: Record<string, string> }> = [
      {
        path: '/api/v1/series',
        body: gzipSync(series),
        headers: { 'content-encoding': 'gzip', 'content-type': 'application/json', 'dd-agent-version': '7.52.0', 'user-agent': 'datadog-agent/7.52.0' },
      },
      {
        path: '/api/v2/series',
        body: deflateSync(Buffer.from([0x0a, 0x03, 1, 2, 3])),
        headers: { 'content-encoding': 'deflate', 'content-type': 'application/x-protobuf', 'dd-agent-payload': '5.0.103' },
      },
      {
        path: '/api/beta/sketches',
        body: Buffer.from([0x0a, 0x00, 0xff, 0x10]),
        headers: { 'content-type': 'application/x-protobuf', 'dd-agent-version': '7.52.0' },
      },
      { path: '/api/v1/check_run', body: Buffer.from('[{"check":"ok","host_name":"h1","status":0}]'), headers: {} },
      { path: '/intake/', body: gzipSync('{"internalHostname":"h1"}'), headers: { 'content-encoding': 'gzip' } },
      {
        path: '/api/v2/logs',
        body: gzipSync('[{"message":"hello","ddsource":"x"}]'),
        headers: { 'content-encoding': 'gzip', 'dd-evp-origin': 'agent', 'dd-evp-origin-version': '7.52.0' },
      },
      {
        path: '/api/v0.2/traces',
        body: Buffer.from([0x93, 0x01, 0x02, 0x03]),
        headers: { 'content-type': 'application/msgpack', 'datadog-meta-lang': 'go', 'x-datadog-trace-count': '1' },
      },
      {
        path: '/api/v0.2/stats',
        body: gzipSync(Buffer.from([0x81, 0xa1, 0x61, 0x01])),
        headers: { 'content-type': 'application/msgpack', 'content-encoding': 'gzip' },
      },
      { path: '/api/v1/events_batch?foo=1&api_key=' + relay.apiKey, body: Buffer.from('{"events":[]}'), headers: {} },
    ];
    // Relay mode reaches the node within its poll interval.
    await eventually(async () => (await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[]', { 'x-probe': '1' })) === 202, 'relay mode in effect');
    await eventually(() => recorder.requests.length === 1, 'the probe forwarded');
    recorder.requests.length = 0;
    for (const payload of sent) {
      const status = await post(`${relay.server.url}${payload.path}`, relay.apiKey, payload.body, { 'content-type': 'application/json', ...payload.headers });
      assert.equal(status, 202, payload.path);
    }
    await eventually(() => recorder.requests.length === sent.length, 'every payload forwarded');
    for (const payload of sent) {
      const expectedPath = payload.path.replace(/[?&]api_key=[0-9a-f]+/, '');
      const got = recorder.requests.find((r) => r.url === expectedPath);
      assert.ok(got, `${expectedPath} arrived (got ${recorder.requests.map((r) => r.url).join(', ')})`);
      assert.equal(got.method, 'POST');
      assert.ok(got.body.equals(payload.body), `${payload.path}: body byte for byte`);
      assert.equal(got.headers['dd-api-key'], UPSTREAM_KEY, 'the upstream key replaces the agent key');
      assert.equal(got.rawHeaders.filter((h) => h.toLowerCase() === 'dd-api-key').length, 1, 'one key header');
      for (const [name, value] of Object.entries({ 'content-type': 'application/json', ...payload.headers }))
        assert.equal(got.headers[name], value, `${payload.path}: ${name} kept`);
      assert.equal(got.headers['content-length'], String(payload.body.length));
      assert.ok(!JSON.stringify(got.rawHeaders).includes(relay.apiKey), 'the agent key is never forwarded');
    }
  });

  it('still refuses a bad agent key (403) and answers /api/v1/validate locally', async () => {
    const before = recorder.requests.length;
    assert.equal(await post(`${relay.server.url}/api/v2/logs`, 'f'.repeat(32), '[]'), 403);
    const validate = await fetch(`${relay.server.url}/api/v1/validate`, { headers: { 'dd-api-key': relay.apiKey } });
    assert.equal(validate.status, 200);
    assert.deepEqual(await validate.json(), { valid: true });
    assert.equal(recorder.requests.length, before, 'nothing forwarded for either');
  });

  it('rekey upstream show never shows the key', async () => {
    const { runRekey } = await import('../support/processes.js');
    const shown = await runRekey(['upstream', 'show', '--data', relay.dataDir, '--org', relay.orgName, '--json'], { env: relay.env });
    assert.equal(shown.code, 0, shown.stderr);
    const row = JSON.parse(shown.stdout) as { mode: string; api_key_last4: string; urls: { logs: string } };
    assert.equal(row.mode, 'relay');
    assert.equal(row.api_key_last4, 'up01');
    assert.equal(row.urls.logs, recorder.url);
    assert.doesNotMatch(shown.stdout + shown.stderr, new RegExp(UPSTREAM_KEY));
  });
});
