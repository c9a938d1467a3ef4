/**
 * Distribution sketches per payload are capped (PayloadCaps.maxSketches, default 10,000): each
 * sketch is read, merged and written on the request's turn of the event loop, and a hostile
 * try held the server for 4.4 s with 105,000 of them. Both routes that make sketches refuse
 * a payload over the cap with 413 PAYLOAD_TOO_COMPLEX, and take one at the cap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRekeyError } from '../../src/errors.js';
import { decodeDistributionPoints } from '../../src/intake/distribution-payload.js';
import { DEFAULT_PAYLOAD_CAPS } from '../../src/intake/payload-caps.js';
import { DEFAULT_TIMESTAMP_WINDOW } from '../../src/intake/series-payload.js';
import { decodeSketchPayload, encodeSketchPayload } from '../../src/intake/sketch-payload.js';

const now = 1_800_000_000;
const tooComplex = (error: unknown) => isRekeyError(error, 'PAYLOAD_TOO_COMPLEX') && error.status === 413;

describe('sketches per payload', () => {
  it('is 10,000 by default', () => assert.equal(DEFAULT_PAYLOAD_CAPS.maxSketches, 10_000));

  it('/api/v1/distribution_points: series × 10 s buckets over the cap are refused; at the cap accepted', () => {
    const caps = { ...DEFAULT_PAYLOAD_CAPS, maxSketches: 60 };
    // 20 series × 3 buckets (two points in one bucket count once) = 60 sketches.
    const payload = (series: number) => ({
      series: Array.from({ length: series }, (_, s) => ({
        metric: 'lat',
        host: `h${s}`,
        points: [
          [now - 5, [1]],
          [now - 25, [2]],
          [now - 45, [3]],
          [now - 44, [4]],
        ],
      })),
    });
    assert.equal(decodeDistributionPoints(payload(20), now, DEFAULT_TIMESTAMP_WINDOW, { caps }).length, 60);
    assert.throws(() => decodeDistributionPoints(payload(21), now, DEFAULT_TIMESTAMP_WINDOW, { caps }), tooComplex);
  });

  it('/api/beta/sketches: dogsketches over the cap are refused; at the cap accepted', () => {
    const caps = { ...DEFAULT_PAYLOAD_CAPS, maxSketches: 30 };
    const body = (n: number) =>
      encodeSketchPayload(
        Array.from({ length: n }, (_, i) => ({
          metric: 'lat',
          host: `h${i}`,
          tags: [],
          dogsketches: [{ ts: now - 10, cnt: 1, min: 1, max: 1, avg: 1, sum: 1, k: [1338], n: [1] }],
        })),
        '7.50.0',
      );
    assert.equal(decodeSketchPayload(body(30), now, DEFAULT_TIMESTAMP_WINDOW, { caps }).length, 30);
    assert.throws(() => decodeSketchPayload(body(31), now, DEFAULT_TIMESTAMP_WINDOW, { caps }), tooComplex);
  });
});
