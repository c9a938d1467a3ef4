/**
 * `POST /api/v1/distribution_points` behaves as the other intake routes under relay mode
 * (issue 19): stored while the organisation is standalone, forwarded byte for byte (the body
 * as the client deflated it, only the key replaced) once it is in relay mode, and never both.
 * A real `rekey server` process and a recording upstream (test/relay/relay-support.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { eventually, post, setUpstream, startNode, startRecorder, type Recorder, type RekeyNode } from '../relay/relay-support.js';

describe('distribution points and relay mode', () => {
  let node: RekeyNode;
  let recorder: Recorder;
  const UPSTREAM_KEY = 'b'.repeat(28) + 'dp01';
  const t0 = Math.floor(Date.now() / 1000 / 10) * 10 - 60;
  const payload = (values: number[]) => deflateSync(JSON.stringify({ series: [{ metric: 'relay.latency', host: 'h1', points: [[t0, values]] }] }));
  const storedCount = async () => {
    const params = new URLSearchParams({ from: String(t0 - 60), to: String(t0 + 60), query: 'count:relay.latency{*}' });
    const response = await fetch(`${node.server.url}/api/v1/query?${params}`, { headers: { 'dd-api-key': node.apiKey, 'dd-application-key': node.appKey } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { series: Array<{ pointlist: Array<[number, number]> }> };
    return body.series[0]?.pointlist[0]?.[1];
  };

  before(async () => {
    recorder = await startRecorder();
    node = await startNode();
  });
  after(async () => {
    await node?.server.stop();
    await recorder?.close();
  });

  it('standalone: stored and queried from the sketch', async () => {
    assert.equal(await post(`${node.server.url}/api/v1/distribution_points`, node.apiKey, payload([1, 2, 3]), { 'content-encoding': 'deflate' }), 202);
    assert.equal(await storedCount(), 3);
    assert.equal(recorder.requests.length, 0);
  });

  it('relay mode: forwarded unchanged but for the key, and not stored', async () => {
    await setUpstream(node, recorder.url, UPSTREAM_KEY);
    await eventually(async () => (await post(`${node.server.url}/api/v2/logs`, node.apiKey, '[]')) === 202, 'relay mode in effect');
    await eventually(() => recorder.requests.length === 1, 'the probe forwarded');
    const body = payload([4, 5, 6, 7]);
    assert.equal(await post(`${node.server.url}/api/v1/distribution_points`, node.apiKey, body, { 'content-encoding': 'deflate' }), 202);
    await eventually(() => recorder.requests.some((r) => r.url === '/api/v1/distribution_points'), 'the distribution points forwarded');
    const got = recorder.requests.find((r) => r.url === '/api/v1/distribution_points')!;
    assert.ok(got.body.equals(body), 'body byte for byte');
    assert.equal(got.headers['content-encoding'], 'deflate');
    assert.equal(got.headers['dd-api-key'], UPSTREAM_KEY);
    assert.equal(await storedCount(), 3, 'nothing more stored locally');
  });
});
