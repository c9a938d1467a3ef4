/**
 * The protobuf series decoder (src/intake/proto-series.ts) answers exactly as decoding the
 * MetricPayload and checking it as v2 series does (the path it replaced): the same series,
 * the same per-series errors, the same refusals — for random payloads whose fields come in
 * any order, repeated or unknown, for bytes cut or flipped, and whether the identity cache
 * knew the series (a second decode, or another payload with the same series) or not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { RekeyError, rekeyError } from '../../src/errors.js';
import { decodeMetricPayload } from '../../src/intake/metric-payload-proto.js';
import { DEFAULT_PAYLOAD_CAPS, type PayloadCaps } from '../../src/intake/payload-caps.js';
import { decodeProtoSeries } from '../../src/intake/proto-series.js';
import { SeriesIdentityCache } from '../../src/intake/series-identity-cache.js';
import { MAX_HOST_NAME, MAX_METRIC_NAME, MAX_TAG_LENGTH } from '../../src/intake/series-limits.js';
import { DEFAULT_TIMESTAMP_WINDOW, decodeV2Series, type DecodeOptions, type IntakeSeries } from '../../src/intake/series-payload.js';

const NOW = 1_800_000_000;

/** The path proto-series.ts replaced: decode the whole payload, then check it as v2 series. */
function reference(body: Buffer, options: DecodeOptions): IntakeSeries[] {
  let payload: { series: unknown[] };
  try {
    payload = decodeMetricPayload(body, options.caps ?? DEFAULT_PAYLOAD_CAPS);
  } catch (error) {
    if (error instanceof RekeyError) throw error;
    throw rekeyError('INVALID_PAYLOAD', { detail: `The body is not a valid protobuf MetricPayload: ${(error as Error).message.slice(0, 200)}` });
  }
  return decodeV2Series(payload, NOW, DEFAULT_TIMESTAMP_WINDOW, options);
}

type Outcome = { series: unknown[]; errors: string[] | undefined } | { code: string; message: string };

function outcome(decode: (options: DecodeOptions) => IntakeSeries[], collect: boolean, caps: PayloadCaps): Outcome {
  const errors: string[] | undefined = collect ? [] : undefined;
  try {
    const series = decode({ caps, ...(errors ? { errors } : {}) });
    return { series: series.map((s) => ({ ...s, tags: [...s.tags], points: [...s.points] })), errors };
  } catch (error) {
    if (!(error instanceof RekeyError)) throw error;
    return { code: error.code, message: error.message };
  }
}

/** One field of a series, encoded by hand so fields can come in any order, twice, or unknown. */
type Field = (w: protobuf.Writer) => void;

const text = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('', 'host', 'a', 'env:prod', 'b', 'env:dev', 'z:1', 'é:ü', 'service:web') },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('m'.repeat(MAX_METRIC_NAME + 1), 'h'.repeat(MAX_HOST_NAME + 1), 't'.repeat(MAX_TAG_LENGTH + 1)) },
);
const resource: fc.Arbitrary<Field> = fc
  .record({ type: fc.constantFrom('host', 'host', 'device', ''), name: text, extra: fc.boolean() })
  .map(({ type, name, extra }) => (w) => {
    w.uint32((1 << 3) | 2).fork();
    if (extra) w.uint32((9 << 3) | 0).uint32(7); // an unknown field inside
    w.uint32((1 << 3) | 2).string(type);
    w.uint32((2 << 3) | 2).string(name);
    w.ldelim();
  });
const point: fc.Arbitrary<Field> = fc
  .record({
    value: fc.oneof(fc.double(), fc.integer()),
    timestamp: fc.oneof(fc.integer({ min: NOW - 4000, max: NOW + 1000 }), fc.constant(0), fc.constant(-5)),
    skipValue: fc.boolean(),
  })
  .map(({ value, timestamp, skipValue }) => (w) => {
    w.uint32((4 << 3) | 2).fork();
    if (!skipValue) w.uint32((1 << 3) | 1).double(value);
    w.uint32((2 << 3) | 0).int64(timestamp);
    w.ldelim();
  });
const field: fc.Arbitrary<Field> = fc.oneof(
  { weight: 3, arbitrary: resource },
  {
    weight: 3,
    arbitrary: text.map(
      (m): Field =>
        (w) =>
          w.uint32((2 << 3) | 2).string(m),
    ),
  },
  {
    weight: 6,
    arbitrary: text.map(
      (t): Field =>
        (w) =>
          w.uint32((3 << 3) | 2).string(t),
    ),
  },
  { weight: 4, arbitrary: point },
  {
    weight: 2,
    arbitrary: fc.integer({ min: -2, max: 5 }).map(
      (t): Field =>
        (w) =>
          w.uint32((5 << 3) | 0).int32(t),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', 'byte', 'second').map(
      (u): Field =>
        (w) =>
          w.uint32((6 << 3) | 2).string(u),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('System', '').map(
      (s): Field =>
        (w) =>
          w.uint32((7 << 3) | 2).string(s),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0, 10, 60, -10).map(
      (i): Field =>
        (w) =>
          w.uint32((8 << 3) | 0).int64(i),
    ),
  },
  { weight: 1, arbitrary: fc.constant<Field>((w) => w.uint32((2 << 3) | 0).uint32(3)) }, // field 2 with the wrong wire type
  { weight: 1, arbitrary: fc.constant<Field>((w) => w.uint32((12 << 3) | 5).fixed32(1)) }, // unknown
);
/** The usual shape first (resources, metric, tags, points, type), then anything in any order. */
const series: fc.Arbitrary<Field[]> = fc
  .record({
    usual: fc.boolean(),
    host: text,
    metric: fc.constantFrom('system.cpu', 'system.mem', 'a.b'),
    tags: fc.array(fc.constantFrom('env:prod', 'b', 'a', 'env:prod', 'z:1', 'service:web'), { maxLength: 6 }),
    rest: fc.array(field, { maxLength: 8 }),
  })
  .map(({ usual, host, metric, tags, rest }) =>
    usual
      ? [
          (w: protobuf.Writer) => {
            w.uint32((1 << 3) | 2)
              .fork()
              .uint32((1 << 3) | 2)
              .string('host')
              .uint32((2 << 3) | 2)
              .string(host)
              .ldelim();
            w.uint32((2 << 3) | 2).string(metric);
            for (const t of tags) w.uint32((3 << 3) | 2).string(t);
          },
          ...rest,
        ]
      : rest,
  );

function encode(payload: Field[][]): Buffer {
  const w = protobuf.Writer.create();
  for (const fields of payload) {
    w.uint32((1 << 3) | 2).fork();
    for (const f of fields) f(w);
    w.ldelim();
  }
  return Buffer.from(w.finish());
}

/** Bytes cut short or with a few bytes changed, to reach the malformed paths. */
const damage = fc.oneof(
  { weight: 4, arbitrary: fc.constant((b: Buffer) => b) },
  { weight: 1, arbitrary: fc.nat().map((n) => (b: Buffer) => b.subarray(0, b.length === 0 ? 0 : n % b.length)) },
  {
    weight: 1,
    arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }).map((flips) => (b: Buffer) => {
      const copy = Buffer.from(b);
      for (const [at, byte] of flips) if (copy.length > 0) copy[at % copy.length] = byte;
      return copy;
    }),
  },
);

describe('protobuf series decoder', () => {
  it('answers as decode-then-check-as-v2 does, whether the cache knew the series or not', () => {
    fc.assert(
      fc.property(
        fc.array(series, { maxLength: 6 }),
        fc.array(series, { maxLength: 4 }),
        damage,
        fc.boolean(),
        fc.constantFrom(DEFAULT_PAYLOAD_CAPS, { ...DEFAULT_PAYLOAD_CAPS, maxSeries: 3, maxPoints: 4, maxTags: 5 }),
        (payload, other, hurt, collect, caps) => {
          // A small cache, so some runs also cross a generation.
          const identities = new SeriesIdentityCache(2000, 200);
          const body = hurt(encode(payload));
          const expected = outcome((o) => reference(body, o), collect, caps);
          const decode = (b: Buffer) => (o: DecodeOptions) => decodeProtoSeries(b, NOW, DEFAULT_TIMESTAMP_WINDOW, { ...o, identities });
          assert.deepEqual(outcome(decode(body), collect, caps), expected, 'cold cache');
          assert.deepEqual(outcome(decode(body), collect, caps), expected, 'the same payload again');
          // Another payload sharing some series (same identity bytes, other points) first.
          outcome(decode(encode([...other, ...payload.slice(0, 2)])), true, caps);
          assert.deepEqual(outcome(decode(body), collect, caps), expected, 'after another payload');
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('takes a known series identity from the cache: the same tags array, fewer decoded strings', () => {
    const identities = new SeriesIdentityCache();
    const body = encode([
      [
        (w) => {
          w.uint32((1 << 3) | 2)
            .fork()
            .uint32((1 << 3) | 2)
            .string('host')
            .uint32((2 << 3) | 2)
            .string('web-1')
            .ldelim();
          w.uint32((2 << 3) | 2).string('system.cpu');
          for (const t of ['service:web', 'env:prod', 'env:prod']) w.uint32((3 << 3) | 2).string(t);
          w.uint32((4 << 3) | 2)
            .fork()
            .uint32((1 << 3) | 1)
            .double(1.5)
            .uint32((2 << 3) | 0)
            .int64(NOW)
            .ldelim();
        },
      ],
    ]);
    const first = decodeProtoSeries(body, NOW, DEFAULT_TIMESTAMP_WINDOW, { identities });
    const second = decodeProtoSeries(body, NOW, DEFAULT_TIMESTAMP_WINDOW, { identities });
    assert.deepEqual(first[0]!.tags, ['env:prod', 'service:web']);
    assert.equal(first[0]!.host, 'web-1');
    assert.equal(identities.size, 1);
    assert.equal(second[0]!.tags, first[0]!.tags, 'the cached array itself');
    assert.deepEqual([...second[0]!.points], [NOW, 1.5]);
    assert.notEqual(second[0]!.points, first[0]!.points, 'points are never shared');
  });

  it('holds at most two generations of keys and drops a key longer than its limit', () => {
    // A 10-char key costs 2 × 10 + 176 bytes (series-identity-cache.ts): 10 fit in 1,960 bytes.
    const identities = new SeriesIdentityCache(1960, 30);
    const identity = { metric: 'm', host: '', tags: [] };
    for (let i = 0; i < 50; i++) identities.set(`key-${String(i).padStart(5, '0')}`, identity); // 10 chars each
    assert.ok(identities.size <= 20, `${identities.size} entries held`);
    assert.equal(identities.get('key-00049'), identity);
    assert.equal(identities.get('key-00000'), undefined, 'the oldest were dropped');
    identities.set('x'.repeat(31), identity);
    assert.equal(identities.get('x'.repeat(31)), undefined);
    // The default bound counts each entry's heap, not only its key: 400,000 short keys (the
    // hostile try's 1.25 M entries held +219 MB when only key characters were counted).
    const bounded = new SeriesIdentityCache();
    for (let i = 0; i < 400_000; i++) bounded.set(i.toString(36), identity);
    const perEntry = 2 * 4 + 176; // keys of 4 base-36 chars from here on
    assert.ok(bounded.size <= 2 * Math.ceil((32 * 1024 * 1024) / perEntry), `${bounded.size} entries held by default`);
    // Found in the previous generation after the next flip: still answered, and moved to the current one.
    for (let i = 50; i < 60; i++) identities.set(`key-${String(i).padStart(5, '0')}`, identity);
    assert.equal(identities.get('key-00049'), identity);
  });
});
