/**
 * The streaming counters of the intake's work caps give the same answer however the bytes
 * are cut into chunks (as a decompressor hands them out): JsonScanner for JSON,
 * MetricPayloadCounter for the protobuf MetricPayload's series.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricPayloadCounter, MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import { DEFAULT_PAYLOAD_CAPS, JsonScanner, type PayloadCaps } from '../../src/intake/payload-caps.js';

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
});
