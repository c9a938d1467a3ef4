import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_TIMESTAMP_WINDOW, decodeV1Series, decodeV2Series } from './series-payload.js';

const now = 1_800_000_000;

describe('series payloads', () => {
  it('store tags sorted and de-duplicated, whatever order they came in', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 8 }), (tags) => {
        const [series] = decodeV2Series({ series: [{ metric: 'm', points: [{ timestamp: now, value: 1 }], tags }] }, now, DEFAULT_TIMESTAMP_WINDOW);
        assert.deepEqual(series!.tags, [...new Set(tags)].sort());
      }),
    );
  });

  it("pack every series' points into one array per payload, in the order sent", () => {
    const payload = {
      series: [
        {
          metric: 'a',
          points: [
            [now - 1, 1.5],
            [now, 2],
          ],
        },
        { metric: 'b', points: [[now - 5, -3]] },
      ],
    };
    const decoded = decodeV1Series(payload, now, DEFAULT_TIMESTAMP_WINDOW);
    assert.deepEqual(
      decoded.map((s) => [...s.points]),
      [
        [now - 1, 1.5, now, 2],
        [now - 5, -3],
      ],
    );
    assert.equal(decoded[0]!.points.buffer, decoded[1]!.points.buffer, 'one allocation for the payload');
  });
});
