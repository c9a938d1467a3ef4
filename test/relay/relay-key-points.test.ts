/**
 * Per-key points and hosts in relay mode (issue 19): a real `rekey server` process relaying to a
 * recording upstream. Series payloads the relay forwards byte for byte — v1 JSON, v2 JSON
 * gzipped, the Agent 7 protobuf MetricPayload deflated — count their points and hosts in the
 * sending key's usage (GET /api/v2/api_keys/{id}/usage) and hosts, as stored payloads do in
 * standalone mode; and a points/min limit, counted that way, refuses the key's next payload.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import { eventually, post, relayToRecorder, type Recorder, type RekeyNode } from './relay-support.js';

interface UsageMinute {
  requests: number;
  bytes: number;
  points: number;
  hosts: number;
}

describe('relay mode: per-key points and hosts of forwarded series', () => {
  let relay: RekeyNode;
  let recorder: Recorder;

  const management = (path: string, init: RequestInit = {}) =>
    fetch(`${relay.server.url}${path}`, {
      ...init,
      headers: { 'dd-api-key': relay.apiKey, 'dd-application-key': relay.appKey, 'content-type': 'application/json', ...init.headers },
    });
  const newKey = async (name: string) => {
    const created = (await (
      await management('/api/v2/api_keys', { method: 'POST', body: JSON.stringify({ data: { type: 'api_keys', attributes: { name } } }) })
    ).json()) as { data: { id: string; attributes: { key: string } } };
    return { id: created.data.id, key: created.data.attributes.key };
  };
  const usage = async (keyId: string) => {
    const minutes = ((await (await management(`/api/v2/api_keys/${keyId}/usage`)).json()) as { minutes: UsageMinute[] }).minutes;
    return minutes.reduce((t, m) => ({ requests: t.requests + m.requests, points: t.points + m.points, hosts: Math.max(t.hosts, m.hosts) }), {
      requests: 0,
      points: 0,
      hosts: 0,
    });
  };
  const now = () => Math.floor(Date.now() / 1000);

  let stop: () => Promise<void>;

  before(async () => {
    ({ relay, recorder, stop } = await relayToRecorder('c'.repeat(28) + 'up03'));
  });
  after(() => stop());

  it("counts the points and hosts of v1 JSON, v2 JSON (gzip) and v2 protobuf (deflate) series in the key's usage; bodies forwarded unchanged", async () => {
    const key = await newKey('points through the relay');
    const v1 = Buffer.from(
      JSON.stringify({
        series: [
          {
            metric: 'relay.points.a',
            points: [
              [now(), 1],
              [now() - 10, 2],
              [now() - 20, 3],
            ],
            host: 'relay-host-1',
            type: 'gauge',
          },
          { metric: 'relay.points.b', points: [[now(), 1]], host: 'relay-host-2', type: 'gauge' },
        ],
      }),
    );
    const v2 = gzipSync(
      JSON.stringify({
        series: [
          {
            metric: 'relay.points.c',
            type: 3,
            points: [
              { timestamp: now(), value: 1 },
              { timestamp: now() - 10, value: 2 },
            ],
            resources: [{ type: 'host', name: 'relay-host-3' }],
          },
        ],
      }),
    );
    const proto = deflateSync(
      MetricPayloadType.encode(
        MetricPayloadType.fromObject({
          series: [
            {
              metric: 'relay.points.d',
              type: 3,
              points: [1, 2, 3, 4].map((i) => ({ value: i, timestamp: now() - i })),
              resources: [{ type: 'host', name: 'relay-host-1' }],
            },
          ],
        }),
      ).finish(),
    );
    const forwardedBefore = recorder.requests.length;
    assert.equal(await post(`${relay.server.url}/api/v1/series`, key.key, v1), 202);
    assert.equal(await post(`${relay.server.url}/api/v2/series`, key.key, v2, { 'content-encoding': 'gzip' }), 202);
    assert.equal(
      await post(`${relay.server.url}/api/v2/series`, key.key, proto, { 'content-type': 'application/x-protobuf', 'content-encoding': 'deflate' }),
      202,
    );
    // 3 + 1 (v1) + 2 (v2 JSON) + 4 (protobuf) points; relay-host-1 has 3 + 4.
    await eventually(async () => (await usage(key.id)).points === 10, 'the points counted in the usage minutes');
    const counted = await usage(key.id);
    assert.equal(counted.requests, 3);
    assert.ok(counted.hosts === 3 || counted.hosts === 2, `distinct hosts per minute (3, or 2 if a minute boundary split them): ${counted.hosts}`);
    let seen = '';
    await eventually(async () => {
      const listed = (await (await management(`/api/v2/api_keys/${key.id}/hosts`)).json()) as { data: Array<{ attributes: { host: string; points: number } }> };
      const byHost = Object.fromEntries(listed.data.map((h) => [h.attributes.host, h.attributes.points]));
      seen = JSON.stringify(byHost);
      return byHost['relay-host-1'] === 7 && byHost['relay-host-2'] === 1 && byHost['relay-host-3'] === 2;
    }, "the key's hosts with their points").catch((error: Error) => assert.fail(`${error.message}: ${seen}`));
    // Forwarded byte for byte all the same.
    await eventually(() => recorder.requests.length >= forwardedBefore + 3, 'the three payloads forwarded');
    const bodies = recorder.requests.slice(forwardedBefore).map((r) => r.body);
    for (const sent of [v1, v2, proto])
      assert.ok(
        bodies.some((b) => b.equals(sent)),
        'a body forwarded unchanged',
      );
  });

  it('a points/min limit counts forwarded points: the payload that crosses it goes through, the next is 429', async () => {
    const key = await newKey('points-limited relay key');
    const put = await management(`/api/v2/api_keys/${key.id}/limits`, { method: 'PUT', body: JSON.stringify({ limits: { points_per_minute: 5 } }) });
    assert.equal(put.status, 200, await put.text());
    const payload = Buffer.from(JSON.stringify({ series: [{ metric: 'relay.limited', points: [1, 2, 3, 4, 5, 6].map((i) => [now() - i, i]), host: 'h' }] }));
    // Minute boundary: if the first payload lands in a minute that ends before the second, retry in the next.
    let refused = 0;
    await eventually(
      async () => {
        const first = await post(`${relay.server.url}/api/v1/series`, key.key, payload);
        if (first !== 202) return false;
        // The points are counted just after the 202; the next request sees them.
        await new Promise((resolve) => setTimeout(resolve, 100));
        refused = await post(`${relay.server.url}/api/v1/series`, key.key, payload);
        return refused === 429;
      },
      'the points limit in effect',
      30_000,
    );
    assert.equal(refused, 429);
  });

  /** Waits, if need be, for a minute with at least 15 s left, so a case's sends share one minute. */
  const awayFromMinuteEnd = async () => {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
  };
  const limitedKey = async (name: string, pointsPerMinute: number) => {
    const key = await newKey(name);
    const put = await management(`/api/v2/api_keys/${key.id}/limits`, {
      method: 'PUT',
      body: JSON.stringify({ limits: { points_per_minute: pointsPerMinute } }),
    });
    assert.equal(put.status, 200, await put.text());
    return key;
  };
  const v1Series = (points: number, extra = '') =>
    Buffer.from(
      `{${extra}"series":[{"metric":"relay.big","host":"h","type":"gauge","points":[${Array.from({ length: points }, (_, i) => `[${now() - (i % 3000)},${i}]`).join(',')}]}]}`,
    );

  it("bodies over the intake's work caps count their points against the limit (a hostile try found them counted 0 and forwarded whole)", async () => {
    await awayFromMinuteEnd();
    // 170,000 points: over the intake's JSON values cap (3 values a point), a legitimate v1 body.
    const big = await limitedKey('big payload key', 1_000);
    assert.equal(
      await post(`${relay.server.url}/api/v1/series`, big.key, gzipSync(v1Series(170_000)), { 'content-encoding': 'gzip' }),
      202,
      'crosses the limit',
    );
    assert.equal(await post(`${relay.server.url}/api/v1/series`, big.key, v1Series(1)), 429, '170,000 points counted: over');
    // A 65-deep junk field padding a 2,000-point body.
    const deep = await limitedKey('deep junk key', 1_000);
    const junk = `"junk":${'['.repeat(65)}${']'.repeat(65)},`;
    assert.equal(await post(`${relay.server.url}/api/v1/series`, deep.key, v1Series(2_000, junk)), 202);
    assert.equal(await post(`${relay.server.url}/api/v1/series`, deep.key, v1Series(1)), 429, 'the padded body counted');
    // A body the relay cannot count is refused, as the standalone intake refuses it: never forwarded uncounted.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"series":['), Buffer.alloc(6 * 1024 * 1024, '{},'), Buffer.from('{}]}')]));
    const other = await limitedKey('bomb key', 1_000);
    const forwardedBefore = recorder.requests.length;
    assert.equal(await post(`${relay.server.url}/api/v2/series`, other.key, bomb, { 'content-encoding': 'gzip' }), 413, 'over the v2 decoded limit (5 MiB)');
    assert.equal(await post(`${relay.server.url}/api/v2/series`, other.key, Buffer.from('{"series":[')), 400, 'not JSON');
    assert.equal(await post(`${relay.server.url}/api/v1/series`, other.key, v1Series(10)), 202, 'the key still sends');
    await eventually(() => recorder.requests.length >= forwardedBefore + 1, 'the good payload forwarded');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(recorder.requests.length, forwardedBefore + 1, 'neither refused body was forwarded');
  });

  it('another spelling of a series path (trailing slash, percent-encoded) counts against the limit too', async () => {
    await awayFromMinuteEnd();
    const key = await limitedKey('path variant key', 1_000);
    assert.equal(await post(`${relay.server.url}/api/v1/series/`, key.key, v1Series(1_000)), 202);
    assert.equal(await post(`${relay.server.url}/api/v1/%73eries`, key.key, v1Series(1)), 429, 'the 1,000 points counted');
    assert.equal(await post(`${relay.server.url}/api/v1/series`, key.key, v1Series(1)), 429);
  });

  it('payloads racing on one node: 64 simultaneous 1,000-point payloads under a 1,000 points/min limit, one forwarded', async () => {
    await awayFromMinuteEnd();
    const key = await limitedKey('racing key', 1_000);
    const body = gzipSync(v1Series(1_000));
    // Half of each body, then the rest 100 ms later: all 64 pass the check made before a body is read.
    const slowPost = () =>
      new Promise<number>((resolve, reject) => {
        const headers = { 'dd-api-key': key.key, 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(body.length) };
        const request = httpRequest(`${relay.server.url}/api/v1/series`, { method: 'POST', headers, agent: false }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        });
        request.on('error', reject);
        request.write(body.subarray(0, body.length >> 1));
        setTimeout(() => request.end(body.subarray(body.length >> 1)), 100);
      });
    const statuses = await Promise.all(Array.from({ length: 64 }, slowPost));
    assert.equal(statuses.filter((s) => s === 202).length, 1, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 63);
    await eventually(async () => (await usage(key.id)).points === 1_000, 'the one payload counted');
  });
});
