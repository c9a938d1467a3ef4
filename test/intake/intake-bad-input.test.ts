/**
 * Every way a request to the intake can be wrong gets a 4xx naming the problem — never a
 * 5xx, never a crash: missing/malformed/unknown/revoked/expired keys (403), bad JSON, wrong
 * types, non-finite values, timestamps outside the window, empty series, unknown encodings,
 * truncated gzip, decompression bombs, oversized bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import { generateKey } from '../../src/keys/key-format.js';
import { CLI_ACTOR, SQLITE } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';
import { zstdHugeWindowFrame, zstdRawFrame, zstdRleBomb } from './zstd-frames.js';

const FORBIDDEN = { errors: ['Forbidden'] };

describe('intake: bad input', () => {
  let f: IntakeFixture;
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;
  const nowS = () => Math.floor(Date.now() / 1000);

  before(async () => {
    f = await createIntakeFixture(SQLITE, { now });
  });
  after(() => f.close());

  const v1 = (body: unknown) => JSON.stringify(body);
  const goodV1 = () => v1({ series: [{ metric: 'test.metric', points: [[nowS(), 1]], host: 'h', tags: ['a:b'] }] });
  const goodV2 = () =>
    v1({ series: [{ metric: 'test.metric', type: 3, points: [{ timestamp: nowS(), value: 1 }], resources: [{ name: 'h', type: 'host' }] }] });

  async function post(url: string, payload: string | Buffer, headers: Record<string, string> = {}, key: string | null = f.apiKey) {
    const response = await f.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'dd-api-key': key }), ...headers },
      payload,
    });
    assert.ok(response.statusCode < 500, `${url} answered ${response.statusCode}: ${response.body}`);
    return { status: response.statusCode, body: response.json() as { errors?: string[]; status?: string } };
  }

  describe('keys', () => {
    it('accepts a good key in the header and in the api_key query parameter', async () => {
      assert.equal((await post('/api/v1/series', goodV1())).status, 202);
      assert.equal((await post(`/api/v2/series?api_key=${f.apiKey}`, goodV2(), {}, null)).status, 202);
    });

    it('refuses a missing key with 403 Forbidden', async () => {
      for (const url of ['/api/v1/series', '/api/v2/series', '/api/v1/check_run', '/intake/']) {
        const r = await post(url, goodV1(), {}, null);
        assert.equal(r.status, 403, url);
        assert.deepEqual(r.body, FORBIDDEN);
      }
    });

    it('refuses malformed keys (checksum, length, case, quotes) with 403', async () => {
      const good = f.apiKey;
      const flipped = good.slice(0, 5) + (good[5] === 'a' ? 'b' : 'a') + good.slice(6);
      for (const bad of [flipped, good.slice(0, 31), good.toUpperCase(), `"${good}"`, `${good} `, 'ENC[api_key]', 'x'.repeat(10_000)]) {
        const r = await post('/api/v1/series', goodV1(), {}, bad);
        assert.equal(r.status, 403);
        assert.deepEqual(r.body, FORBIDDEN);
      }
    });

    it('refuses an unknown key (valid checksum, never issued) with 403', async () => {
      const r = await post('/api/v2/series', goodV2(), {}, generateKey('api'));
      assert.equal(r.status, 403);
      assert.deepEqual(r.body, FORBIDDEN);
    });

    it('refuses a revoked key on the very first request after the revoke', async () => {
      const { key, id } = await f.newApiKey();
      assert.equal((await post('/api/v2/series', goodV2(), {}, key)).status, 202); // now cached as active
      await f.store.revokeApiKey(f.orgId, id, CLI_ACTOR);
      const r = await post('/api/v2/series', goodV2(), {}, key);
      assert.equal(r.status, 403);
      assert.deepEqual(r.body, FORBIDDEN);
      // and again once restored
      await f.store.restoreApiKey(f.orgId, id, CLI_ACTOR);
      assert.equal((await post('/api/v2/series', goodV2(), {}, key)).status, 202);
    });

    it('refuses an expired (rolled) key once its grace period has passed', async () => {
      const { key, id } = await f.newApiKey();
      await f.store.rollApiKey(f.orgId, id, { hash: f.hasher.hash(generateKey('api')), last4: 'abcd' }, 60_000, CLI_ACTOR);
      assert.equal((await post('/api/v2/series', goodV2(), {}, key)).status, 202, 'still valid during the grace period');
      clockOffsetMs = 61_000;
      try {
        const r = await post('/api/v2/series', goodV2(), {}, key);
        assert.equal(r.status, 403);
        assert.deepEqual(r.body, FORBIDDEN);
      } finally {
        clockOffsetMs = 0;
      }
    });
  });

  describe('payloads', () => {
    const cases: Array<[string, string, string | Buffer, RegExp, Record<string, string>?]> = [
      ['invalid JSON', '/api/v1/series', '{"series":[', /not valid JSON/],
      ['not an object', '/api/v2/series', '[1,2,3]', /"series" array/],
      ['empty series (v1)', '/api/v1/series', v1({ series: [] }), /"series" is empty/],
      ['empty series (v2)', '/api/v2/series', v1({ series: [] }), /"series" is empty/],
      ['metric not a string', '/api/v1/series', v1({ series: [{ metric: 5, points: [[1, 1]] }] }), /series\[0\]\.metric/],
      ['points not an array', '/api/v1/series', v1({ series: [{ metric: 'm', points: 'x' }] }), /series\[0\]\.points/],
      ['empty points', '/api/v2/series', v1({ series: [{ metric: 'm', points: [] }] }), /non-empty/],
      ['value a string', '/api/v1/series', `{"series":[{"metric":"m","points":[[${Math.floor(Date.now() / 1000)},"1"]]}]}`, /value must be a number/],
      ['value Infinity (1e999)', '/api/v1/series', `{"series":[{"metric":"m","points":[[${Math.floor(Date.now() / 1000)},1e999]]}]}`, /finite/],
      ['value NaN literal', '/api/v1/series', `{"series":[{"metric":"m","points":[[1,NaN]]}]}`, /not valid JSON/],
      ['v2 type out of range', '/api/v2/series', v1({ series: [{ metric: 'm', type: 9, points: [{ timestamp: 1, value: 1 }] }] }), /type must be/],
      ['v1 type unknown', '/api/v1/series', v1({ series: [{ metric: 'm', type: 'histogram', points: [[1, 1]] }] }), /type must be/],
      ['tags not strings', '/api/v2/series', v1({ series: [{ metric: 'm', tags: [1], points: [{ timestamp: 1, value: 1 }] }] }), /tags/],
      ['check_run neither a check run nor an array', '/api/v1/check_run', v1(42), /a check run or an array of check runs/],
      ['check_run object without host_name', '/api/v1/check_run', v1({ check: 'x' }), /host_name/],
      ['check_run bad status', '/api/v1/check_run', v1([{ check: 'c', host_name: 'h', status: 7 }]), /status/],
      ['host metadata without host', '/intake/', v1({ agentVersion: '7.0.0' }), /names no host/],
      ['empty body', '/api/v2/series', '', /no body|empty/],
    ];
    for (const [name, url, body, message, headers] of cases) {
      it(`400 for ${name}`, async () => {
        const r = await post(url, body, headers);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.match(r.body.errors![0]!, message);
      });
    }

    it("400 for timestamps in the future or too far in the past (Datadog's window: +10 min, −1 h; the bad series named, the rest kept)", async () => {
      const future = await post('/api/v2/series', v1({ series: [{ metric: 'm', points: [{ timestamp: nowS() + 3600, value: 1 }] }] }));
      assert.equal(future.status, 400);
      assert.match(future.body.errors![0]!, /in the future/);
      const old = await post('/api/v1/series', v1({ series: [{ metric: 'm', points: [[nowS() - 8 * 86400, 1]] }] }));
      assert.equal(old.status, 400);
      assert.match(old.body.errors![0]!, /in the past/);
      const ms = await post('/api/v1/series', v1({ series: [{ metric: 'm', points: [[Date.now(), 1]] }] }));
      assert.equal(ms.status, 400, 'milliseconds instead of seconds are refused');
      assert.equal((await post('/api/v1/series', v1({ series: [{ metric: 'm', points: [[nowS() - 50 * 60, 1]] }] }))).status, 202, '50 minutes old is kept');
      const mixed = await post(
        '/api/v1/series',
        v1({
          series: [
            { metric: 'm', points: [[nowS() - 2 * 3600, 1]] },
            { metric: 'm2', points: [[nowS() - 60, 1]] },
          ],
        }),
      );
      assert.equal(mixed.status, 202, 'two hours old: that series is refused, the other kept');
      assert.equal(mixed.body.errors!.length, 1);
      assert.match(mixed.body.errors![0]!, /series\[0\].*in the past/);
    });

    it('400 for NaN and Infinity in a protobuf payload, 400 for garbage protobuf', async () => {
      for (const value of [NaN, Infinity, -Infinity]) {
        const bytes = MetricPayloadType.encode(MetricPayloadType.fromObject({ series: [{ metric: 'm', points: [{ value, timestamp: nowS() }] }] })).finish();
        const r = await post('/api/v2/series', Buffer.from(bytes), { 'content-type': 'application/x-protobuf' });
        assert.equal(r.status, 400);
        assert.match(r.body.errors![0]!, /finite/);
      }
      const r = await post('/api/v2/series', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2]), { 'content-type': 'application/x-protobuf' });
      assert.equal(r.status, 400);
      assert.match(r.body.errors![0]!, /protobuf/);
    });
  });

  describe('encodings and sizes', () => {
    it('accepts gzip, deflate and zstd (also Datadog’s name zstd1)', async () => {
      assert.equal((await post('/api/v2/series', gzipSync(goodV2()), { 'content-encoding': 'gzip' })).status, 202);
      assert.equal((await post('/api/v2/series', deflateSync(goodV2()), { 'content-encoding': 'deflate' })).status, 202);
      assert.equal((await post('/api/v2/series', zstdRawFrame(Buffer.from(goodV2())), { 'content-encoding': 'zstd' })).status, 202);
      assert.equal((await post('/api/v1/series', zstdRawFrame(Buffer.from(goodV1())), { 'content-encoding': 'zstd1' })).status, 202);
    });

    it('415 for an unknown Content-Encoding', async () => {
      const r = await post('/api/v2/series', goodV2(), { 'content-encoding': 'br' });
      assert.equal(r.status, 415);
      assert.match(r.body.errors![0]!, /not supported/);
    });

    it('400 for truncated or corrupt gzip, deflate and zstd', async () => {
      const gz = gzipSync(goodV2());
      for (const [encoding, body] of [
        ['gzip', gz.subarray(0, gz.length - 10)],
        ['gzip', Buffer.from('not gzip at all')],
        ['deflate', deflateSync(goodV2()).subarray(0, 12)],
        ['zstd', zstdRawFrame(Buffer.from(goodV2())).subarray(0, 20)],
        ['zstd', Buffer.from('not zstd')],
      ] as const) {
        const r = await post('/api/v2/series', body, { 'content-encoding': encoding });
        assert.equal(r.status, 400, `${encoding}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.errors![0]!, /truncated or corrupt/);
      }
    });

    it('400 for deep nesting, compressed or not: counted before JSON.parse except in a small series body, whose decoder refuses its shape', async () => {
      const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
      const cases: Array<[string, string, RegExp]> = [
        ['/api/v2/series', `{"series":${nested(30_000)}}`, /series\[0\] must be an object/], // 60 KB: parsed, then refused by shape
        ['/api/v2/series', `{"series":${nested(40_000)}}`, /nests deeper than 64 levels/], // 80 KB: counted first
        ['/api/v1/series', `{"series":[{"metric":"m","points":${nested(30_000)}}]}`, /points\[0\] must be \[timestamp, value\]/],
        ['/intake/', `{"internalHostname":"h","meta":${nested(1000)}}`, /nests deeper than 64 levels/], // kept as JSON: always counted
      ];
      for (const [url, text, expected] of cases) {
        for (const [encoding, body] of [
          ['identity', Buffer.from(text)],
          ['deflate', deflateSync(text)],
          ['gzip', gzipSync(text)],
        ] as const) {
          const r = await post(url, body, { 'content-encoding': encoding });
          assert.equal(r.status, 400, `${url} ${encoding}: ${JSON.stringify(r.body)}`);
          assert.match(r.body.errors![0]!, expected, `${url} ${encoding}`);
        }
      }
    });

    it('413 quickly for a 1 GB gzip bomb on v1 (62 MiB limit) and a 400 MB one on v2 (5 MiB)', async () => {
      const oneGb = gzipBomb(1024);
      assert.ok(oneGb.length < 3_200_000, `bomb is ${oneGb.length} bytes`);
      let started = performance.now();
      const r1 = await post('/api/v1/series', oneGb, { 'content-encoding': 'gzip' });
      const v1Ms = performance.now() - started;
      assert.equal(r1.status, 413);
      // Refused by the first limit it crosses while inflating: the JSON work cap (16 MiB of
      // string and number bytes) comes before the 62 MiB byte limit.
      assert.match(r1.body.errors![0]!, /decompressed payload is larger than 62914560|more than 16777216 bytes of JSON strings/);
      const v2Bomb = gzipBomb(400);
      assert.ok(v2Bomb.length < 512_000);
      started = performance.now();
      const r2 = await post('/api/v2/series', v2Bomb, { 'content-encoding': 'gzip' });
      assert.equal(r2.status, 413);
      assert.match(r2.body.errors![0]!, /5242880/);
      // Inflating all of 1 GB takes seconds; stopping at the limit a fraction of that.
      assert.ok(v1Ms < 5000, `v1 bomb took ${v1Ms} ms`);
    });

    it('413 for zstd bombs: a 1 GB RLE frame and a frame declaring a 2 GB window', async () => {
      const r = await post('/api/v2/series', zstdRleBomb(1 << 30), { 'content-encoding': 'zstd' });
      assert.equal(r.status, 413);
      const w = await post('/api/v2/series', zstdHugeWindowFrame(), { 'content-encoding': 'zstd' });
      assert.equal(w.status, 413);
    });

    it('413 for bodies over the wire limit, compressed or not', async () => {
      const big = Buffer.alloc(600_000, 0x20);
      const r = await post('/api/v2/series', big);
      assert.equal(r.status, 413);
      assert.match(r.body.errors![0]!, /larger than 512000/);
      const compressedBig = Buffer.alloc(3_300_000, 1);
      const r1 = await post('/api/v1/series', compressedBig, { 'content-encoding': 'gzip' });
      assert.equal(r1.status, 413);
      assert.match(r1.body.errors![0]!, /compressed payload is larger than 3200000/);
    });
  });
});

/**
 * A gzip stream that inflates to `mib` MiB of zeros, without ever holding them: gzip allows
 * concatenated members, so one compressed MiB is repeated.
 */
function gzipBomb(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}
