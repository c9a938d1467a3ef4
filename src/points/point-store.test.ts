import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seriesKey } from './point-store.js';

/** Strings from the characters that could blur a key's parts: NUL, \u0001, digits, JSON's quotes, brackets and commas. */
const tricky = fc.string({ unit: fc.constantFrom('\u0000', '\u0001', '0', '1', '2', 'a', '"', '[', ']', ',', '\\'), maxLength: 4 });
const series = fc.tuple(tricky, fc.array(tricky, { maxLength: 4 }));

describe('seriesKey', () => {
  it('gives two series the same key exactly when host and tags are the same', () => {
    fc.assert(
      fc.property(series, series, ([hostA, tagsA], [hostB, tagsB]) => {
        const same = hostA === hostB && tagsA.length === tagsB.length && tagsA.every((tag, i) => tag === tagsB[i]);
        assert.equal(seriesKey(hostA, tagsA) === seriesKey(hostB, tagsB), same, JSON.stringify([hostA, tagsA, hostB, tagsB]));
      }),
      { numRuns: 20_000 },
    );
  });

  it('keeps apart the shapes a plain join would merge', () => {
    const cases: Array<[string, string[]]> = [
      ['h', []],
      ['h', ['']],
      ['h', ['', '']],
      ['h', ['a\u0000b']],
      ['h', ['a', 'b']],
      ['h\u0000a', ['b']],
      ['h\u00001', ['a']],
      ['h', ['1\u0000a']],
      ['\u0001["h",[]]', []],
    ];
    const keys = new Set(cases.map(([host, tags]) => seriesKey(host, tags)));
    assert.equal(keys.size, cases.length);
  });
});
