/**
 * 10,000 random requests to the intake — JSON-ish, near-valid series, protobuf, random bytes,
 * compressed correctly or not, with random headers and keys — and not one 5xx: every
 * answer is 202, 400, 403, 413 or 415 with a `{"errors":[…]}` or accepted body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import { SQLITE } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';
import { zstdRawFrame, zstdRleBomb } from './zstd-frames.js';

describe('intake fuzz', () => {
  let f: IntakeFixture;
  before(async () => {
    // 10,000 mostly refused payloads from one key and address: the rate limits (tested in
    // intake-abuse.test.ts) would answer 429 to most of them; this test is about decoding.
    const unlimited = { perSecond: 1e9, burst: 1e9 };
    f = await createIntakeFixture(SQLITE, {
      rateLimits: { perKey: unlimited, perAddress: unlimited, unknownKeysPerAddress: unlimited, refusedPayloadsPerKey: unlimited },
    });
  });
  after(() => f.close());

  it('answers 10,000 random requests without a single 5xx', async () => {
    const now = Math.floor(Date.now() / 1000);
    const value = fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.string(), fc.constant('NaN'));
    const timestamp = fc.oneof(fc.integer({ min: now - 600, max: now + 60 }), fc.double(), fc.integer(), fc.string());
    const tags = fc.oneof(fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }), fc.anything());
    const v1Series = fc.record(
      {
        metric: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.anything()),
        points: fc.oneof(fc.array(fc.tuple(timestamp, value), { maxLength: 5 }), fc.anything()),
        host: fc.oneof(fc.string({ maxLength: 20 }), fc.anything()),
        tags,
        type: fc.oneof(fc.constantFrom('gauge', 'count', 'rate'), fc.anything()),
        interval: fc.oneof(fc.nat(), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const v2Series = fc.record(
      {
        metric: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.anything()),
        type: fc.oneof(fc.integer({ min: -1, max: 4 }), fc.anything()),
        points: fc.oneof(fc.array(fc.record({ timestamp, value }), { maxLength: 5 }), fc.anything()),
        resources: fc.oneof(fc.array(fc.record({ name: fc.string(), type: fc.constantFrom('host', 'x') })), fc.anything()),
        tags,
      },
      { requiredKeys: [] },
    );
    const jsonBody = fc
      .oneof(
        fc.record({ series: fc.array(fc.oneof(v1Series, v2Series), { maxLength: 4 }) }).map((o) => JSON.stringify(o)),
        fc
          .array(fc.record({ check: fc.string(), host_name: fc.string(), status: fc.integer({ min: -1, max: 5 }), tags }), { maxLength: 3 })
          .map((o) => JSON.stringify(o)),
        fc.record({ internalHostname: fc.oneof(fc.string(), fc.anything()), agentVersion: fc.anything() }).map((o) => JSON.stringify(o)),
        fc.json(),
        fc.string({ maxLength: 200 }),
      )
      .map((text) => Buffer.from(text));
    const protoBody = fc
      .array(
        fc.record({
          metric: fc.string({ maxLength: 20 }),
          points: fc.array(fc.record({ value: fc.double(), timestamp: fc.integer({ min: now - 600, max: now + 600 }) }), { maxLength: 4 }),
          type: fc.integer({ min: 0, max: 5 }),
          tags: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
        }),
        { maxLength: 3 },
      )
      .map((series) => Buffer.from(MetricPayloadType.encode(MetricPayloadType.fromObject({ series })).finish()));
    const rawBytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
    const body = fc.oneof(jsonBody, protoBody, rawBytes);

    const encoding = fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom('none', 'gzip', 'deflate', 'zstd', 'gzip-lie', 'zstd-lie', 'br', 'gzip, deflate', '') },
      { weight: 1, arbitrary: fc.constant('zstd-bomb') },
    );
    const encode = (bytes: Buffer, how: string): { bytes: Buffer; header?: string } => {
      switch (how) {
        case 'none':
          return { bytes };
        case 'gzip':
          return { bytes: gzipSync(bytes), header: 'gzip' };
        case 'deflate':
          return { bytes: deflateSync(bytes), header: 'deflate' };
        case 'zstd':
          return { bytes: zstdRawFrame(bytes), header: 'zstd' };
        case 'gzip-lie':
          return { bytes, header: 'gzip' };
        case 'zstd-lie':
          return { bytes, header: 'zstd' };
        case 'zstd-bomb':
          return { bytes: zstdRleBomb(8 << 20), header: 'zstd' };
        default:
          return { bytes, header: how };
      }
    };
    const keyChoice = fc.oneof(
      { weight: 6, arbitrary: fc.constant('valid') },
      { weight: 1, arbitrary: fc.constantFrom('none', 'query', 'truncated') },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => `random:${s}`) },
    );
    const contentType = fc.constantFrom(
      'application/json',
      'application/x-protobuf',
      'text/plain',
      'none',
      'application/json; charset=utf-8',
      'multipart/form-data; boundary=x',
    );
    const url = fc.constantFrom('/api/v1/series', '/api/v2/series', '/api/v1/check_run', '/intake/', '/api/v2/series?api_key=');

    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(url, body, encoding, keyChoice, contentType, async (path, payload, how, key, type) => {
        const { bytes, header } = encode(payload, how);
        const headers: Record<string, string> = {};
        if (header !== undefined) headers['content-encoding'] = header;
        if (type !== 'none') headers['content-type'] = type;
        let target: string = path;
        if (key === 'valid') headers['dd-api-key'] = f.apiKey;
        else if (key === 'query') target = `${path.split('?')[0]}?api_key=${f.apiKey}`;
        else if (key === 'truncated') headers['dd-api-key'] = f.apiKey.slice(0, 20);
        else if (key.startsWith('random:')) headers['dd-api-key'] = encodeURIComponent(key.slice(7));
        const response = await f.app.inject({ method: 'POST', url: target, headers, payload: bytes });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        assert.ok([202, 400, 403, 413, 415].includes(response.statusCode), `status ${response.statusCode}: ${response.body.slice(0, 300)}`);
        const json = response.json() as { errors?: unknown[]; status?: string };
        assert.ok(Array.isArray(json.errors) || json.status === 'ok');
      }),
      { numRuns: 10_000 },
    );
    // The run must have exercised both acceptance and each refusal class.
    for (const status of [202, 400, 403, 413, 415]) assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} in ${JSON.stringify([...statuses])}`);
  });
});
