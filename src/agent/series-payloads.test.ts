import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { V1_LIMITS } from '../intake/intake-limits.js';
import { DEFAULT_PAYLOAD_CAPS, scanJson } from '../intake/payload-caps.js';
import { DEFAULT_TIMESTAMP_WINDOW, decodeV1Series } from '../intake/series-payload.js';
import type { Series } from './series.js';
import { seriesPayloads } from './series-payloads.js';

const TS = 1_700_000_000;

/** Every payload passes the intake's own checks (wire size, work caps, decoder); returns the series in them. */
async function intakeTakesAll(payloads: string[]): Promise<number> {
  let n = 0;
  for (const json of payloads) {
    const body = Buffer.from(json);
    assert.ok(deflateSync(body).length <= V1_LIMITS.wireBytes, `deflated ${deflateSync(body).length} bytes`);
    assert.ok(body.length <= V1_LIMITS.decodedBytes);
    await scanJson(body, DEFAULT_PAYLOAD_CAPS); // throws PAYLOAD_TOO_COMPLEX (413) over a cap
    n += decodeV1Series(JSON.parse(json), TS, DEFAULT_TIMESTAMP_WINDOW).length;
  }
  return n;
}

test('2,000 contexts with 300 tags each (600,000 tags): cut into payloads the intake takes whole, every series once, in order', async () => {
  const tags = Array.from({ length: 300 }, (_, i) => `t${i}:v`);
  const series: Series[] = Array.from({ length: 2000 }, (_, i) => ({ metric: `wide.c${i}`, points: [[TS, 1]], type: 'count', interval: 10, host: 'h', tags }));
  // As one payload (the agent's cut before): refused 413.
  await assert.rejects(scanJson(Buffer.from(JSON.stringify({ series })), DEFAULT_PAYLOAD_CAPS), /more than 500000 JSON values/);
  const payloads = seriesPayloads(series);
  assert.ok(payloads.length > 1);
  assert.equal(await intakeTakesAll(payloads), 2000);
  const metrics = payloads.flatMap((json) => (JSON.parse(json) as { series: Series[] }).series.map((s) => s.metric));
  assert.deepEqual(
    metrics,
    series.map((s) => s.metric),
  );
});

test('tags deflate cannot shrink (random): no payload passes the 3.2 MB wire limit', async () => {
  const series: Series[] = Array.from({ length: 2000 }, (_, i) => ({
    metric: `rnd.c${i}`,
    points: [[TS, 1]],
    type: 'count',
    interval: 10,
    host: 'h',
    tags: Array.from({ length: 20 }, () => `k:${randomBytes(99).toString('hex')}`),
  }));
  assert.ok(deflateSync(JSON.stringify({ series })).length > V1_LIMITS.wireBytes, 'as one payload: over the wire limit (413)');
  const payloads = seriesPayloads(series);
  assert.equal(await intakeTakesAll(payloads), 2000);
});

test('a usual flush stays one payload; an empty flush gives none', () => {
  const series: Series[] = Array.from({ length: 1500 }, (_, i) => ({
    metric: `m${i}`,
    points: [[TS, i]],
    type: 'gauge',
    host: 'h',
    tags: ['env:prod', 'service:web'],
  }));
  assert.equal(seriesPayloads(series).length, 1);
  assert.equal(seriesPayloads(series.concat(series)).length, 2);
  assert.deepEqual(seriesPayloads([]), []);
});
