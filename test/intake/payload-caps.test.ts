/**
 * The streaming counters of the intake's work caps give the same answer however the bytes
 * are cut into chunks (as a decompressor hands them out): JsonScanner for JSON,
 * MetricPayloadCounter for the protobuf MetricPayload's series.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricPayloadCounter, MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import {
  DEFAULT_PAYLOAD_CAPS,
  DeferredJsonScanner,
  JsonScanner,
  parseBoundedJson,
  UNSCANNED_JSON_MAX_BYTES,
  type PayloadCaps,
} from '../../src/intake/payload-caps.js';

function chunks(bytes: Uint8Array, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let state = seed;
  for (let at = 0; at < bytes.length;) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const size = 1 + (state % 7);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

function refuses(push: (chunk: Uint8Array) => void, parts: Uint8Array[]): string | null {
  try {
    for (const part of parts) push(part);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('streaming work-cap counters', () => {
  const caps: PayloadCaps = { ...DEFAULT_PAYLOAD_CAPS, maxSeries: 20, maxJsonValues: 100, maxJsonTokenBytes: 500 };

  it('MetricPayloadCounter: refuses more than maxSeries series whatever the chunking, passes up to it', () => {
    const payload = (n: number) =>
      MetricPayloadType.encode(
        MetricPayloadType.fromObject({
          series: Array.from({ length: n }, (_, i) => ({
            metric: `m.${i}`.repeat(i % 5 === 0 ? 40 : 1), // some series longer than 127 bytes: 2-byte lengths
            tags: ['a:b'],
            points: [{ value: 1.5, timestamp: 1_700_000_000 + i }],
            resources: [{ type: 'host', name: 'h' }],
            type: 3,
            interval: 10,
          })),
        }),
      ).finish();
    for (let seed = 1; seed <= 20; seed++) {
      const atCap = new MetricPayloadCounter(caps);
      assert.equal(
        refuses((c) => atCap.push(c), chunks(payload(20), seed)),
        null,
      );
      const over = new MetricPayloadCounter(caps);
      assert.match(refuses((c) => over.push(c), chunks(payload(21), seed)) ?? '', /more than 20 series/);
    }
    const empty = new MetricPayloadCounter(caps);
    assert.match(refuses((c) => empty.push(c), [new Uint8Array(100).fill(0x0a).map((b, i) => (i % 2 ? 0 : b))]) ?? '', /more than 20 series/);
  });

  it('JsonScanner: counts values and token bytes across chunk boundaries, strings and escapes included', () => {
    const within = Buffer.from(JSON.stringify({ series: Array.from({ length: 10 }, (_, i) => ({ m: `x"\\,{[${i}`, p: [[1, 2]] })) }));
    const tooMany = Buffer.from(JSON.stringify({ series: Array(101).fill(0) }));
    const tooLong = Buffer.from(JSON.stringify({ s: 'a,{['.repeat(130) }));
    for (let seed = 1; seed <= 20; seed++) {
      const a = new JsonScanner(caps);
      assert.equal(
        refuses((c) => a.push(c), chunks(within, seed)),
        null,
      );
      const b = new JsonScanner(caps);
      assert.match(refuses((c) => b.push(c), chunks(tooMany, seed)) ?? '', /more than 100 JSON values/);
      const c2 = new JsonScanner(caps);
      // Commas and brackets inside a string are not values; its bytes are token bytes.
      assert.match(refuses((c) => c2.push(c), chunks(tooLong, seed)) ?? '', /more than 500 bytes of JSON strings and numbers/);
    }
  });

  it('parseBoundedJson: nesting past the depth cap is refused before JSON.parse, except in a series body (shapeOnly) up to UNSCANNED_JSON_MAX_BYTES', async () => {
    const over = UNSCANNED_JSON_MAX_BYTES / 2 + 1;
    const deepLarge = Buffer.from('['.repeat(over) + ']'.repeat(over));
    await assert.rejects(parseBoundedJson(deepLarge, DEFAULT_PAYLOAD_CAPS, { shapeOnly: true }), (error: Error) => {
      assert.match(error.message, new RegExp(`nests deeper than ${DEFAULT_PAYLOAD_CAPS.maxJsonDepth} levels`));
      return true;
    });
    // At the threshold the same shape is parsed (cheaply: see UNSCANNED_JSON_MAX_BYTES); the
    // series decoders refuse it afterwards for its shape.
    const half = UNSCANNED_JSON_MAX_BYTES / 2;
    let depth = 0;
    for (
      let value: unknown = await parseBoundedJson(Buffer.from('['.repeat(half) + ']'.repeat(half)), DEFAULT_PAYLOAD_CAPS, { shapeOnly: true });
      Array.isArray(value);
      value = value[0]
    ) {
      depth++;
    }
    assert.equal(depth, half);
    await assert.rejects(
      parseBoundedJson(Buffer.from('['.repeat(UNSCANNED_JSON_MAX_BYTES)), DEFAULT_PAYLOAD_CAPS, { shapeOnly: true }),
      /The body is not valid JSON/,
    );
    // Any other body (host metadata, events: kept as JSON) is scanned however small.
    await assert.rejects(parseBoundedJson(Buffer.from('['.repeat(100) + ']'.repeat(100)), DEFAULT_PAYLOAD_CAPS), /nests deeper than 64 levels/);
    // A body larger than a count cap is counted first, however small.
    const small: PayloadCaps = { ...DEFAULT_PAYLOAD_CAPS, maxJsonValues: 10 };
    await assert.rejects(parseBoundedJson(Buffer.from(JSON.stringify(Array(11).fill(0))), small, { shapeOnly: true }), /more than 10 JSON values/);
    assert.equal(((await parseBoundedJson(Buffer.from('[0,0]'), small, { shapeOnly: true })) as unknown[]).length, 2);
  });

  it('DeferredJsonScanner: holds a body up to UNSCANNED_JSON_MAX_BYTES unscanned, then scans all of it, whatever the chunking', () => {
    const small: PayloadCaps = { ...DEFAULT_PAYLOAD_CAPS, maxJsonValues: 1000 };
    const within = Buffer.from(JSON.stringify(Array(UNSCANNED_JSON_MAX_BYTES / 2 - 1).fill(0))); // 64 KiB - 1 byte
    const past = Buffer.from(JSON.stringify(Array(UNSCANNED_JSON_MAX_BYTES / 2 + 10).fill(0)));
    const deep = Buffer.from('['.repeat(UNSCANNED_JSON_MAX_BYTES + 1));
    for (let seed = 1; seed <= 3; seed++) {
      const held = new DeferredJsonScanner(small);
      assert.equal(
        refuses((c) => held.push(c), chunks(within, seed)),
        null,
      );
      assert.equal(held.scannedAll, false, 'a small body is left to parseBoundedJson');
      const counted = new DeferredJsonScanner(small);
      assert.match(refuses((c) => counted.push(c), chunks(past, seed)) ?? '', /more than 1000 JSON values/);
      const nested = new DeferredJsonScanner(DEFAULT_PAYLOAD_CAPS);
      assert.match(refuses((c) => nested.push(c), chunks(deep, seed)) ?? '', /nests deeper than 64 levels/);
    }
    const large = new DeferredJsonScanner(DEFAULT_PAYLOAD_CAPS);
    large.push(past);
    assert.equal(large.scannedAll, true);
  });
});
