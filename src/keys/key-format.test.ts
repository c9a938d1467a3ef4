import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KEY_LENGTH, generateKey, keyChecksum, last4, maskKey, parseKey, type KeyKind } from './key-format.js';

const HEX = '0123456789abcdef';
const KINDS: KeyKind[] = ['api', 'app'];

/** A well-formed key of `kind` built from an arbitrary body (fast-check shrinks it). */
function arbitraryKey(kind: KeyKind): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...HEX), minLength: KEY_LENGTH[kind] - 4, maxLength: KEY_LENGTH[kind] - 4 }).map((body) => body + keyChecksum(body));
}

function reason(raw: string, kind: KeyKind): string {
  const check = parseKey(raw, kind);
  return check.ok ? 'ok' : check.reason;
}

for (const kind of KINDS) {
  const length = KEY_LENGTH[kind];
  describe(`${kind} key format`, () => {
    it('every generated key parses', () => {
      for (let i = 0; i < 2000; i++) {
        const key = generateKey(kind);
        assert.match(key, new RegExp(`^[0-9a-f]{${length}}$`));
        assert.deepEqual(parseKey(key, kind), { ok: true, key, kind });
      }
      fc.assert(fc.property(arbitraryKey(kind), (key) => parseKey(key, kind).ok));
    });

    it('checksum is the low 16 bits of zlib CRC-32 of the body', () => {
      // zlib.crc32("hello") = 0x3610a686
      assert.equal(keyChecksum('hello'), 'a686');
      assert.equal(keyChecksum(''), '0000');
    });

    it('rejects every substitution with another hex character: bad_checksum', () => {
      // CRC is affine, so whether a substitution is caught depends only on its position and
      // the two characters, not on the rest of the key: this exhaustive check covers all keys.
      const key = generateKey(kind);
      for (let i = 0; i < length; i++) {
        for (const c of HEX) {
          if (c === key[i]) continue;
          const changed = key.slice(0, i) + c + key.slice(i + 1);
          assert.equal(reason(changed, kind), 'bad_checksum', `position ${i} → ${c}`);
        }
      }
      fc.assert(
        fc.property(arbitraryKey(kind), fc.nat(length - 1), fc.constantFrom(...HEX), (key, i, c) => {
          fc.pre(key[i] !== c);
          return reason(key.slice(0, i) + c + key.slice(i + 1), kind) === 'bad_checksum';
        }),
      );
    });

    it('rejects a substitution with a non-hex character: non_hex, naming the position', () => {
      fc.assert(
        fc.property(arbitraryKey(kind), fc.nat(length - 1), fc.constantFrom(...'ghijklmnopqrstuvwxyz-_.:/+=#'), (key, i, c) => {
          const check = parseKey(key.slice(0, i) + c + key.slice(i + 1), kind);
          return !check.ok && check.reason === 'non_hex' && check.message.includes(`position ${i + 1}`);
        }),
      );
    });

    it('rejects every deletion, insertion and truncation: wrong_length', () => {
      fc.assert(fc.property(arbitraryKey(kind), fc.nat(length - 1), (key, i) => reason(key.slice(0, i) + key.slice(i + 1), kind) === 'wrong_length'));
      fc.assert(
        fc.property(
          arbitraryKey(kind),
          fc.nat(length),
          fc.constantFrom(...HEX),
          (key, i, c) => reason(key.slice(0, i) + c + key.slice(i), kind) === 'wrong_length',
        ),
      );
      fc.assert(fc.property(arbitraryKey(kind), fc.integer({ min: 1, max: length - 1 }), (key, n) => reason(key.slice(0, n), kind) === 'wrong_length'));
      fc.assert(fc.property(arbitraryKey(kind), (key) => reason(key + key, kind) === 'wrong_length'));
      const other: KeyKind = kind === 'api' ? 'app' : 'api';
      assert.equal(reason(generateKey(other), kind), 'wrong_length');
    });

    it('rejects quoting, surrounding whitespace, uppercase, emptiness and ENC[] handles with the right reason', () => {
      const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r'), minLength: 1, maxLength: 3 });
      fc.assert(
        fc.property(
          arbitraryKey(kind),
          fc.constantFrom('"', "'"),
          whitespace,
          (key, quote, space) => reason(`${quote}${key}${quote}`, kind) === 'quoted' && reason(`${space}${quote}${key}${quote}${space}`, kind) === 'quoted',
        ),
      );
      fc.assert(
        fc.property(arbitraryKey(kind), whitespace, whitespace, (key, before, afterward) =>
          [`${before}${key}`, `${key}${afterward}`, `${before}${key}${afterward}`].every((raw) => reason(raw, kind) === 'whitespace'),
        ),
      );
      fc.assert(
        fc.property(arbitraryKey(kind), (key) => {
          fc.pre(/[a-f]/.test(key));
          const i = key.search(/[a-f]/);
          return reason(key.toUpperCase(), kind) === 'uppercase' && reason(key.slice(0, i) + key[i]!.toUpperCase() + key.slice(i + 1), kind) === 'uppercase';
        }),
      );
      assert.equal(reason('', kind), 'empty');
      assert.equal(reason('  \n', kind), 'empty');
      assert.equal(reason('ENC[datadog_api_key]', kind), 'encrypted_handle');
    });

    it('never echoes the key in a rejection message', () => {
      fc.assert(
        fc.property(arbitraryKey(kind), fc.nat(length - 1), (key, i) => {
          const variants = [`"${key}"`, ` ${key}`, key.toUpperCase(), key.slice(0, -1), key.slice(0, i) + (key[i] === '0' ? '1' : '0') + key.slice(i + 1)];
          return variants.every((raw) => {
            const check = parseKey(raw, kind);
            return !check.ok && !check.message.includes(key.slice(0, 8)) && !check.message.toLowerCase().includes(key.slice(4, 12));
          });
        }),
      );
    });
  });
}

describe('display helpers', () => {
  it('last4 and maskKey show only the last four characters', () => {
    const key = generateKey('api');
    assert.equal(last4(key), key.slice(-4));
    assert.equal(maskKey(key), '•'.repeat(28) + key.slice(-4));
  });
});
