/**
 * Per-key usage and limits in relay mode (issue 19), with the whole program: a real `rekey
 * server` process relaying to a recording upstream, `rekey key-limits` through the real CLI.
 * Relay-forwarded requests count in the key's usage minutes (requests and bytes as sent); a
 * limit set with the CLI reaches the running node, refuses that key with 429 + Retry-After
 * (nothing forwarded) while another key is unaffected, and holds after a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runRekey } from '../support/processes.js';
import { eventually, post, restartNode, setUpstream, startNode, startRecorder, type Recorder, type RekeyNode } from './relay-support.js';

describe('relay mode: per-key usage and limits', () => {
  let relay: RekeyNode;
  let recorder: Recorder;
  let keyId: string;
  let otherKey: string;

  const management = (path: string, init: RequestInit = {}) =>
    fetch(`${relay.server.url}${path}`, {
      ...init,
      headers: { 'dd-api-key': relay.apiKey, 'dd-application-key': relay.appKey, 'content-type': 'application/json', ...init.headers },
    });
  const send = async (apiKey: string, body: Buffer) => {
    const response = await fetch(`${relay.server.url}/api/v2/logs`, {
      method: 'POST',
      headers: { 'dd-api-key': apiKey, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() };
  };

  before(async () => {
    recorder = await startRecorder();
    relay = await startNode();
    await setUpstream(relay, recorder.url, 'b'.repeat(28) + 'up02');
    const keys = (await (await management('/api/v2/api_keys')).json()) as { data: Array<{ id: string }> };
    keyId = keys.data[0]!.id;
    const created = (await (
      await management('/api/v2/api_keys', { method: 'POST', body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: 'other agent' } } }) })
    ).json()) as { data: { attributes: { key: string } } };
    otherKey = created.data.attributes.key;
    await eventually(async () => (await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[]')) === 202, 'relay mode in effect');
  });
  after(async () => {
    await relay.server.stop();
    await recorder.close();
  });

  it("counts relay-forwarded requests and their bytes as sent in the key's usage minutes, a chunked body's too", async () => {
    const before = (await (await management(`/api/v2/api_keys/${keyId}/usage`)).json()) as { minutes: Array<{ requests: number; bytes: number }> };
    const sum = (minutes: Array<{ requests: number; bytes: number }>) =>
      minutes.reduce((t, m) => ({ requests: t.requests + m.requests, bytes: t.bytes + m.bytes }), { requests: 0, bytes: 0 });
    const body = gzipSync('[{"message":"usage in relay mode","ddsource":"test"}]');
    for (let i = 0; i < 2; i++) assert.equal((await send(relay.apiKey, body)).status, 202);
    // The third without Content-Length (a stream body is sent chunked): its bytes count once read.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    });
    const init = {
      method: 'POST',
      headers: { 'dd-api-key': relay.apiKey, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: chunked,
      duplex: 'half',
    };
    assert.equal((await fetch(`${relay.server.url}/api/v2/logs`, init as RequestInit)).status, 202);
    const response = await management(`/api/v2/api_keys/${keyId}/usage`);
    assert.equal(response.status, 200);
    const after = (await response.json()) as { minutes: Array<{ requests: number; bytes: number }> };
    assert.deepEqual(sum(after.minutes), { requests: sum(before.minutes).requests + 3, bytes: sum(before.minutes).bytes + 3 * body.length });
  });

  it('a series body the relay cannot read is still forwarded as sent (the upstream judges it) and counts no points', async () => {
    const created = (await (
      await management('/api/v2/api_keys', { method: 'POST', body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: 'careless agent' } } }) })
    ).json()) as { data: { id: string; attributes: { key: string } } };
    const corrupt = Buffer.from('this is not gzip');
    const forwarded = recorder.requests.length;
    const response = await fetch(`${relay.server.url}/api/v1/series`, {
      method: 'POST',
      headers: { 'dd-api-key': created.data.attributes.key, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: corrupt,
    });
    assert.equal(response.status, 202, 'a key without a points limit is not refused for what the relay cannot count');
    await eventually(() => recorder.requests.length > forwarded, 'forwarded');
    assert.deepEqual(recorder.requests.at(-1)!.body, corrupt, 'byte for byte');
    await eventually(async () => {
      const usage = (await (await management(`/api/v2/api_keys/${created.data.id}/usage`)).json()) as {
        minutes: Array<{ requests: number; bytes: number; points: number }>;
      };
      const total = usage.minutes.reduce((t, m) => ({ requests: t.requests + m.requests, bytes: t.bytes + m.bytes, points: t.points + m.points }), {
        requests: 0,
        bytes: 0,
        points: 0,
      });
      return total.requests === 1 && total.bytes === corrupt.length && total.points === 0;
    }, 'one request and its bytes in the usage, no points');
  });

  it('a limit set with rekey key-limits reaches the node: 429 + Retry-After for that key, nothing forwarded; another key unaffected; held after a restart', async () => {
    const bad = await runRekey(['key-limits', 'set', '--data', relay.dataDir, '--org', relay.orgName, '--key', keyId, '--requests-per-second', '0'], {
      env: relay.env,
    });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--requests-per-second "0" must be a positive whole number/);
    const set = await runRekey(['key-limits', 'set', '--data', relay.dataDir, '--org', relay.orgName, '--key', keyId, '--requests-per-second', '1', '--json'], {
      env: relay.env,
    });
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { key_id: keyId, requests_per_second: 1, points_per_minute: null, bytes_per_day: null });
    const shown = await runRekey(['key-limits', 'show', '--data', relay.dataDir, '--org', relay.orgName], { env: relay.env });
    assert.match(shown.stdout, new RegExp(`${keyId}: 1 requests/s`));
    const one = await runRekey(['key-limits', 'show', '--data', relay.dataDir, '--org', relay.orgName, '--key', keyId], { env: relay.env });
    assert.match(one.stdout, new RegExp(`^${keyId}: 1 requests/s`));
    const other = await runRekey(['key-limits', 'show', '--data', relay.dataDir, '--org', relay.orgName, '--key', '00000000-0000-0000-0000-000000000000'], {
      env: relay.env,
    });
    assert.match(other.stdout, /has no limits/);

    const body = gzipSync('[{"message":"over the limit"}]');
    // The node re-reads the limits every 2 s: soon one of two back-to-back requests is refused.
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    await eventually(async () => {
      await send(relay.apiKey, body);
      const second = await send(relay.apiKey, body);
      if (second.status === 429) refused = second;
      return refused !== undefined;
    }, 'the limit in effect');
    assert.equal(refused!.retryAfter, '1');
    assert.deepEqual(JSON.parse(refused!.text), { errors: ['This API key is over its limit of 1 requests per second; retry after 1 s'] });
    // The limited key's 202s before the limit may still be on their way upstream: count from
    // the moment the spool is empty (every acknowledged payload delivered), not before.
    const spooled = async () => Number(/^rekey_relay_spool_payloads (\d+)/m.exec(await (await fetch(`${relay.server.url}/metrics`)).text())?.[1] ?? NaN);
    await eventually(async () => (await spooled()) === 0, 'every acknowledged payload delivered');
    const forwarded = recorder.requests.length;
    assert.equal((await send(relay.apiKey, body)).status, 429);
    for (let i = 0; i < 3; i++) assert.equal((await send(otherKey, body)).status, 202, 'another key is unaffected');
    await eventually(() => recorder.requests.length === forwarded + 3, "only the other key's payloads forwarded");

    await relay.server.stop();
    relay = await restartNode(relay);
    await eventually(async () => (await send(otherKey, body)).status === 202, 'the restarted node serves');
    const statuses = [(await send(relay.apiKey, body)).status, (await send(relay.apiKey, body)).status];
    assert.ok(statuses.includes(429), `the stored limit holds after a restart (got ${statuses.join(', ')})`);
  });
});
