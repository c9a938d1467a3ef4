import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { V1_LIMITS, V2_LIMITS } from '../intake/intake-limits.js';
import { MetricPayloadType } from '../intake/metric-payload-proto.js';
import { DEFAULT_PAYLOAD_CAPS } from '../intake/payload-caps.js';
import { countsPoints, pointsOfForwarded } from './forwarded-usage.js';

const json = (encoding?: string): Array<[string, string]> => [
  ['content-type', 'application/json'],
  ...(encoding ? [['content-encoding', encoding] as [string, string]] : []),
];
const count = (path: string, headers: Array<[string, string]>, body: Buffer, limits = V2_LIMITS) =>
  pointsOfForwarded(path, headers, body, limits, DEFAULT_PAYLOAD_CAPS).then((m) => Object.fromEntries(m));

describe('pointsOfForwarded: the points and hosts of a payload the relay forwards', () => {
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

  it('counts nothing for other paths, unreadable bodies, unknown encodings and payloads over the work caps', async () => {
    const series = Buffer.from(JSON.stringify({ series: [{ metric: 'a', points: [[1, 1]], host: 'h' }] }));
    assert.equal(countsPoints('/api/v2/logs'), false);
    assert.equal(countsPoints('/api/v2/series'), true);
    assert.deepEqual(await count('/api/v2/logs', json(), series), {});
    assert.deepEqual(await count('/api/v1/series', json(), Buffer.from('{"series": [')), {});
    assert.deepEqual(await count('/api/v1/series', json('br'), series), {});
    assert.deepEqual(await count('/api/v1/series', json('gzip'), Buffer.from('not gzip')), {});
    // 62 MiB of `{},` from a few KB of gzip: refused by the intake's caps while inflating.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"series":['), Buffer.alloc(3 * 1024 * 1024, '{},'), Buffer.from('{}]}')]));
    const started = process.hrtime.bigint();
    assert.deepEqual(await count('/api/v1/series', json('gzip'), bomb, V1_LIMITS), {});
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 5_000, 'stopped early');
  });
});
