import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { V1_LIMITS, V2_LIMITS } from '../intake/intake-limits.js';
import { MetricPayloadType } from '../intake/metric-payload-proto.js';
import { DEFAULT_PAYLOAD_CAPS } from '../intake/payload-caps.js';
import { RekeyError } from '../errors.js';
import { encodeSketchPayload } from '../intake/sketch-payload.js';
import { countsPoints, MAX_COUNTED_BYTES, readForwardedPoints } from './forwarded-usage.js';

const json = (encoding?: string): Array<[string, string]> => [
  ['content-type', 'application/json'],
  ...(encoding ? [['content-encoding', encoding] as [string, string]] : []),
];
const count = (path: string, headers: Array<[string, string]>, body: Buffer, limits = V2_LIMITS) =>
  readForwardedPoints(path, headers, body, limits).then((m) => Object.fromEntries(m));
/** What `readForwardedPoints` throws for `body` (its code and status), or 'counted'. */
const refusal = async (path: string, headers: Array<[string, string]>, body: Buffer, limits = V2_LIMITS) => {
  try {
    await readForwardedPoints(path, headers, body, limits);
    return 'counted';
  } catch (error) {
    assert.ok(error instanceof RekeyError, String(error));
    return `${error.status} ${error.code}`;
  }
};
const protobufHeaders = (encoding?: string): Array<[string, string]> => [
  ['content-type', 'application/x-protobuf'],
  ...(encoding ? [['content-encoding', encoding] as [string, string]] : []),
];

describe('readForwardedPoints: the points and hosts of a payload the relay forwards', () => {
  it('v1 JSON series: points per host, gzip or deflate or plain; a series without host counts under ""', async () => {
    const payload = {
      series: [
        {
          metric: 'a',
          points: [
            [1, 1],
            [2, 2],
            [3, 3],
          ],
          host: 'web-1',
        },
        { metric: 'b', points: [[1, 1]], host: 'web-2' },
        {
          metric: 'c',
          points: [
            [1, 1],
            [2, 2],
          ],
          host: 'web-1',
        },
        { metric: 'd', points: [[1, 1]] },
      ],
    };
    const text = Buffer.from(JSON.stringify(payload));
    const expected = { 'web-1': 5, 'web-2': 1, '': 1 };
    assert.deepEqual(await count('/api/v1/series', json(), text, V1_LIMITS), expected);
    assert.deepEqual(await count('/api/v1/series', json('gzip'), gzipSync(text), V1_LIMITS), expected);
    assert.deepEqual(await count('/api/v1/series?x=1', json('deflate'), deflateSync(text), V1_LIMITS), expected);
  });

  it('v2 JSON series: the host resource', async () => {
    const payload = {
      series: [
        {
          metric: 'a',
          type: 3,
          points: [
            { timestamp: 1, value: 1 },
            { timestamp: 2, value: 2 },
          ],
          resources: [{ type: 'host', name: 'db-1' }],
        },
        { metric: 'b', type: 1, points: [{ timestamp: 1, value: 1 }], resources: [{ type: 'service', name: 'x' }] },
      ],
    };
    assert.deepEqual(await count('/api/v2/series', json('gzip'), gzipSync(JSON.stringify(payload))), { 'db-1': 2, '': 1 });
  });

  it('v2 protobuf MetricPayload (the Agent 7 format)', async () => {
    const proto = Buffer.from(
      MetricPayloadType.encode(
        MetricPayloadType.fromObject({
          series: [
            {
              metric: 'a',
              type: 3,
              points: [
                { value: 1, timestamp: 1 },
                { value: 2, timestamp: 2 },
                { value: 3, timestamp: 3 },
              ],
              resources: [{ type: 'host', name: 'agent-7' }],
            },
            { metric: 'b', type: 1, points: [{ value: 1, timestamp: 1 }], resources: [{ type: 'host', name: 'agent-8' }] },
          ],
        }),
      ).finish(),
    );
    const headers: Array<[string, string]> = [
      ['content-type', 'application/x-protobuf'],
      ['content-encoding', 'deflate'],
    ];
    assert.deepEqual(await count('/api/v2/series', headers, deflateSync(proto)), { 'agent-7': 3, 'agent-8': 1 });
  });

  it('distribution points: every value is a point', async () => {
    const payload = {
      series: [
        {
          metric: 'd',
          points: [
            [1, [1, 2, 3]],
            [2, [4]],
          ],
          host: 'h',
        },
      ],
    };
    assert.deepEqual(await count('/api/v1/distribution_points', json(), Buffer.from(JSON.stringify(payload)), V1_LIMITS), { h: 4 });
  });

  it('sketches: every value a dogsketch summarises (cnt) is a point, under the sketch host', async () => {
    const body = Buffer.from(
      encodeSketchPayload(
        [
          { metric: 's', host: 'h1', tags: [], dogsketches: [1, 2].map((i) => ({ ts: i, cnt: 5 * i, min: 0, max: 1, avg: 0.5, sum: 1, k: [1], n: [5 * i] })) },
          { metric: 't', host: '', tags: ['a:b'], dogsketches: [{ ts: 1, cnt: 3, min: 0, max: 1, avg: 0.5, sum: 1, k: [1], n: [3] }] },
        ],
        '7.50.0',
      ),
    );
    assert.deepEqual(await count('/api/beta/sketches', protobufHeaders('gzip'), gzipSync(body)), { h1: 15, '': 3 });
  });

  it('counts nothing for other paths, unreadable bodies and unknown encodings; a points-limited key has them refused with the intake errors', async () => {
    const series = Buffer.from(JSON.stringify({ series: [{ metric: 'a', points: [[1, 1]], host: 'h' }] }));
    assert.equal(countsPoints('/api/v2/logs'), false);
    assert.equal(countsPoints('/api/v2/series'), true);
    assert.equal(countsPoints('/api/beta/sketches'), true);
    // Spellings an upstream may route to the same intake (they reach the relay through /api/*).
    for (const variant of ['/api/v2/series/', '/api//v1/series', '/api/v2/%73eries?x=1', '/API/V1/Distribution_Points', '/api/beta/sketches//'])
      assert.equal(countsPoints(variant), true, variant);
    assert.deepEqual(await count('/api/v1/series/', json(), series), { h: 1 });
    assert.deepEqual(await count('/api/v2/logs', json(), series), {});
    const unreadable: Array<[string, Array<[string, string]>, Buffer, string]> = [
      ['/api/v1/series', json(), Buffer.from('{"series": ['), '400 INVALID_PAYLOAD'],
      ['/api/v1/series', json('br'), series, '415 UNSUPPORTED_ENCODING'],
      ['/api/v1/series', json('gzip'), Buffer.from('not gzip'), '400 CORRUPT_ENCODING'],
      ['/api/v2/series', protobufHeaders(), Buffer.from([0x0a, 0x7f, 0x01]), '400 INVALID_PAYLOAD'],
      ['/api/beta/sketches', protobufHeaders(), Buffer.from([0x0a, 0x05, 0x3a, 0x10]), '400 INVALID_PAYLOAD'],
      ['/api/v2/series', json(), Buffer.alloc(V2_LIMITS.decodedBytes + 1, ' '), '413 PAYLOAD_TOO_LARGE'],
    ];
    for (const [path, headers, body, expected] of unreadable) assert.equal(await refusal(path, headers, body), expected);
  });

  it('a decompression bomb stops at the counted limit (v2: 5 MiB, Datadog own; v1: 8 MiB of its 62): 413, not counted', async () => {
    // 63 MiB of `{},` from a few KB of gzip.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"series":['), Buffer.alloc(63 * 1024 * 1024, '{},'), Buffer.from('{}]}')]));
    const started = process.hrtime.bigint();
    assert.equal(await refusal('/api/v1/series', json('gzip'), bomb, V1_LIMITS), '413 PAYLOAD_TOO_LARGE');
    assert.equal(await refusal('/api/v2/series', json('gzip'), bomb), '413 PAYLOAD_TOO_LARGE');
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 5_000, 'stopped at the limit');
    // A real series body just over 8 MiB: not counted (the Agent sends at most 4 MiB); just under: counted.
    const body = (bytes: number) => {
      const head = '{"series":[{"metric":"a","host":"h","points":[[1,1]]}],"pad":"';
      return Buffer.from(head + 'x'.repeat(bytes - head.length - 2) + '"}');
    };
    assert.equal(await refusal('/api/v1/series', json(), body(MAX_COUNTED_BYTES + 1), V1_LIMITS), '413 PAYLOAD_TOO_LARGE');
    assert.deepEqual(await count('/api/v1/series', json('gzip'), gzipSync(body(MAX_COUNTED_BYTES)), V1_LIMITS), { h: 1 });
  });

  it("counts bodies over the intake's work caps (a hostile try found them counted 0 and forwarded whole): deep junk, huge arrays, 250,000 points", async () => {
    const caps = DEFAULT_PAYLOAD_CAPS;
    const point = (i: number) => [i, i];
    // A 65-deep junk field beside a 3-point series (the intake refuses nesting past 64).
    const deep = `{"junk":${'['.repeat(caps.maxJsonDepth + 1)}${']'.repeat(caps.maxJsonDepth + 1)},"series":[{"metric":"a","host":"h","points":[[1,1],[2,2],[3,3]]}]}`;
    assert.deepEqual(await count('/api/v1/series', json('gzip'), gzipSync(deep), V1_LIMITS), { h: 3 });
    // A 500,001-value junk array beside 2 points (the intake's JSON values cap: 500,000).
    const wide = `{"junk":[${'0,'.repeat(caps.maxJsonValues)}0],"series":[{"metric":"a","host":"h","points":[[1,1],[2,2]]}]}`;
    assert.deepEqual(await count('/api/v1/series', json('gzip'), gzipSync(wide), V1_LIMITS), { h: 2 });
    // 250,000 points in one body (over the points cap, 200,000, and the JSON values cap).
    const many = JSON.stringify({ series: [{ metric: 'a', host: 'h', points: Array.from({ length: 250_000 }, (_, i) => point(i)) }] });
    assert.deepEqual(await count('/api/v1/series', json('gzip'), gzipSync(many), V1_LIMITS), { h: 250_000 });
    // The same in protobuf (over the points cap).
    const proto = MetricPayloadType.encode(
      MetricPayloadType.fromObject({
        series: [
          { metric: 'a', type: 3, points: Array.from({ length: 250_000 }, (_, i) => ({ value: i, timestamp: i })), resources: [{ type: 'host', name: 'p' }] },
        ],
      }),
    ).finish();
    assert.deepEqual(await count('/api/v2/series', protobufHeaders('gzip'), gzipSync(proto)), { p: 250_000 });
    // 60,000 series (over the series cap, 50,000), one point each.
    const series = MetricPayloadType.encode(
      MetricPayloadType.fromObject({ series: Array.from({ length: 60_000 }, () => ({ metric: 'a', points: [{ value: 1, timestamp: 1 }] })) }),
    ).finish();
    assert.deepEqual(await count('/api/v2/series', protobufHeaders('gzip'), gzipSync(series)), { '': 60_000 });
  });
});
