import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countJsonPoints, type JsonFormat, type PointsPerHost } from './json-points.js';
import { countParsedJsonPoints } from './json-points-oracle.js';

const FORMATS: JsonFormat[] = ['v1', 'v2', 'distribution'];

/** JSON with duplicate keys allowed: an object is its members in order. */
type Value = null | boolean | number | string | Value[] | { members: Array<[string, Value]> };

/** Strings that look like the structure: keys, brackets, quotes, escapes, non-ASCII, long. */
const trickyStrings = fc.constantFrom(
  'points',
  'host',
  'series',
  'resources',
  'type',
  'name',
  'timestamp',
  'value',
  '"points":[[1,2]]',
  '{"host":"x"}',
  '[',
  ']',
  '{',
  '}',
  '"',
  '\\',
  '\\"',
  ',',
  ':',
  'é',
  'ホスト',
  '😀',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u2028',
  '\ud800',
  '',
  'h'.repeat(255),
  'h'.repeat(256),
  'é'.repeat(200),
);
const anyString = fc.oneof({ weight: 3, arbitrary: trickyStrings }, { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'binary' }) });
const keyName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('points', 'host', 'series', 'resources', 'type', 'name', 'metric', 'tags') },
  { weight: 1, arbitrary: anyString },
);
const scalar: fc.Arbitrary<Value> = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), anyString);
/** Any JSON value, nested (the unknown fields the counter must skip). */
const anyValue: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(keyName, tie('value')), { maxLength: 4 }).map((members) => ({ members })),
  ),
})).value;
const obj = (...members: Array<[string, Value]>): Value => ({ members });

const point = (format: JsonFormat): fc.Arbitrary<Value> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary:
        format === 'v1'
          ? fc.tuple(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
          : format === 'v2'
            ? fc.tuple(fc.integer(), fc.integer()).map(([t, v]) => obj(['timestamp', t], ['value', v]))
            : fc.tuple(fc.integer(), fc.array(fc.integer(), { maxLength: 5 })),
    },
    { weight: 1, arbitrary: anyValue },
    { weight: 1, arbitrary: format === 'distribution' ? fc.tuple(fc.integer(), anyValue, anyValue) : anyValue },
  );
const resource: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('host', 'service', 'Host', 'host '), anyString).map(([type, name]) => obj(['type', type], ['name', name])) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom('type', 'name', 'other'), fc.oneof(fc.constant('host'), anyValue)), { maxLength: 4 })
      .map((members) => ({ members })),
  },
  { weight: 1, arbitrary: anyValue },
);
const seriesObject = (format: JsonFormat): fc.Arbitrary<Value> =>
  fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.array(point(format), { maxLength: 6 }).map((points): [string, Value] => ['points', points]) },
        { weight: 2, arbitrary: fc.oneof(anyString, anyValue).map((host): [string, Value] => ['host', host]) },
        { weight: 2, arbitrary: fc.array(resource, { maxLength: 3 }).map((resources): [string, Value] => ['resources', resources]) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('points', 'host', 'resources'), anyValue) },
        { weight: 2, arbitrary: fc.tuple(keyName, anyValue) },
      ),
      { maxLength: 6 },
    )
    .map((members) => ({ members }));
const payload = (format: JsonFormat): fc.Arbitrary<Value> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .array(fc.oneof({ weight: 5, arbitrary: seriesObject(format) }, { weight: 1, arbitrary: anyValue }), { maxLength: 6 })
        .map((series) => obj(['series', series])),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.oneof(
            fc.array(seriesObject(format), { maxLength: 3 }).map((s): [string, Value] => ['series', s]),
            fc.tuple(keyName, anyValue),
          ),
          { maxLength: 4 },
        )
        .map((members) => ({ members })),
    },
    { weight: 1, arbitrary: anyValue },
  );

/** Deterministic choices for one serialisation (whitespace, how each character is written). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `value` as JSON text, with random whitespace and random (valid) escapes, duplicate keys as given. */
function serialize(value: Value, seed: number): string {
  const next = random(seed);
  const ws = () => (next() < 0.8 ? '' : [' ', '\n', '\t', '\r', '  \n '][Math.floor(next() * 5)]!);
  const str = (s: string) => {
    let out = '"';
    for (const char of s) {
      const code = char.codePointAt(0)!;
      const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '/': '\\/' };
      const escape = () =>
        Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`)
          .join('')
          .replace(/[a-f]/g, (h) => (next() < 0.5 ? h.toUpperCase() : h));
      if (code < 0x20 || char === '"' || char === '\\') out += short[char] !== undefined && next() < 0.5 ? short[char] : escape();
      else if (next() < 0.1) out += short[char] ?? escape();
      else out += char;
    }
    return out + '"';
  };
  const write = (v: Value): string => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number') return ws() + JSON.stringify(v) + ws();
    if (typeof v === 'string') return ws() + str(v) + ws();
    if (Array.isArray(v)) return `${ws()}[${v.length === 0 ? ws() : v.map(write).join(',')}]${ws()}`;
    return `${ws()}{${v.members.length === 0 ? ws() : v.members.map(([k, m]) => `${ws()}${str(k)}${ws()}:${write(m)}`).join(',')}}${ws()}`;
  };
  return write(value);
}

const plain = (counts: PointsPerHost | undefined) => (counts === undefined ? undefined : [...counts]);
function assertSame(format: JsonFormat, body: Buffer): void {
  assert.deepStrictEqual(
    plain(countJsonPoints(format, body)),
    plain(countParsedJsonPoints(format, body)),
    `${format}: ${JSON.stringify(body.toString('latin1'))}`,
  );
}

/** Edits that make most bodies invalid (and a few valid in another way). */
const edit = fc.tuple(
  fc.constantFrom('delete', 'insert', 'replace'),
  fc.nat(),
  fc.constantFrom(...'{}[]",:\\ 0-.eE+tfnul\u0000\u00ff'.split('').map((c) => c.charCodeAt(0)), 0xef, 0xbb, 0xbf, 0xc3, 0x80),
);
function applyEdits(body: Buffer, edits: Array<[string, number, number]>): Buffer {
  let bytes = [...body];
  for (const [kind, where, byte] of edits) {
    const at = bytes.length === 0 ? 0 : where % (bytes.length + (kind === 'insert' ? 1 : 0));
    if (kind === 'delete') bytes.splice(at, 1);
    else if (kind === 'insert') bytes.splice(at, 0, byte);
    else if (bytes.length > 0) bytes[at] = byte;
  }
  return Buffer.from(bytes);
}

describe('countJsonPoints: one pass over the bytes, exactly what JSON.parse and the fields yield', () => {
  const runs = Number(process.env.REKEY_FC_RUNS ?? 1500);

  for (const format of FORMATS) {
    it(`${format}: generated payloads (keys in any order, duplicates, escapes, whitespace, unknown nested fields)`, () => {
      fc.assert(
        fc.property(payload(format), fc.integer(), (value, seed) => assertSame(format, Buffer.from(serialize(value, seed)))),
        { numRuns: runs },
      );
    });

    it(`${format}: generated payloads with bytes deleted, inserted or replaced`, () => {
      fc.assert(
        fc.property(payload(format), fc.integer(), fc.array(edit, { minLength: 1, maxLength: 3 }), (value, seed, edits) =>
          assertSame(format, applyEdits(Buffer.from(serialize(value, seed)), edits)),
        ),
        { numRuns: runs },
      );
    });
  }

  it('any JSON value, and any short byte string of JSON characters', () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(...FORMATS), (text, format) => assertSame(format, Buffer.from(text))),
      { numRuns: runs },
    );
    const jsonBytes = fc.constantFrom(
      ...'{}[]",:\\ \t\n0129-+.eEtruefalsnl"seriespointshost'.split('').map((c) => c.charCodeAt(0)),
      0x00,
      0x1f,
      0x80,
      0xc3,
      0xa9,
      0xef,
      0xbb,
      0xbf,
      0xff,
    );
    fc.assert(
      fc.property(fc.array(jsonBytes, { maxLength: 40 }), fc.constantFrom(...FORMATS), (bytes, format) => assertSame(format, Buffer.from(bytes))),
      { numRuns: runs * 3 },
    );
  });

  it('hand cases: escapes in keys and hosts, last key wins, invalid UTF-8, BOM, numbers, literals', () => {
    const cases: Array<[JsonFormat, string | Buffer, Record<string, number> | undefined]> = [
      ['v1', '{"series":[{"host":"a","points":[[1,1],[2,2]]}]}', { a: 2 }],
      ['v1', '{"series":[{"h\\u006fst":"a\\n\\u00e9","p\\u006Fints":[[1,1]]}]}', { 'a\né': 1 }],
      ['v1', '{"series":[{"host":"a","points":[[1,1]],"host":"b"}]}', { b: 1 }],
      ['v1', '{"series":[{"host":"a","points":[[1,1]],"host":7}]}', { '': 1 }],
      ['v1', '{"series":[{"points":[[1,1]],"points":{}}]}', {}],
      ['v1', '{"series":[{"points":[[1,1]]}],"series":{"points":[1]}}', {}],
      ['v1', '{"series":{},"series":[{"points":[1,2,3],"host":"x"}]}', { x: 3 }],
      ['v1', `{"series":[{"host":"${'h'.repeat(256)}","points":[1]}]}`, { '': 1 }],
      ['v1', '{"series":[{"host":"points","points":[]},{"host":"[\\"]","points":[0]}]}', { '["]': 1 }],
      ['v1', '{"series":[{"points":[1],"host":"\\ud800"}]}', { '\ud800': 1 }],
      [
        'v2',
        '{"series":[{"resources":[{"type":"service","name":"s"},{"name":"h1","type":"h\\u006fst"},{"type":"host","name":"h2"}],"points":[{}]}]}',
        { h1: 1 },
      ],
      ['v2', '{"series":[{"resources":[{"type":"host","name":5}],"points":[{},{}]}]}', { '': 2 }],
      ['v2', '{"series":[{"resources":[{"type":"host","name":"a","type":"x"},{"type":"host"}],"points":[1]}]}', { '': 1 }],
      ['v2', '{"series":[{"resources":[{"type":"host","name":"a"}],"resources":[],"points":[1]}]}', { '': 1 }],
      ['v2', '{"series":[{"host":"ignored in v2","points":[1]}]}', { '': 1 }],
      ['distribution', '{"series":[{"host":"d","points":[[1,[1,2,3]],[2,[]],[3,4],[5],[6,[7],[8,9]],{}]}]}', { d: 4 }],
      ['v1', ' \r\n\t{ "series" : [ ] } \n', {}],
      ['v1', '[]', {}],
      ['v1', '"series"', {}],
      ['v1', '{"series":[-0,1e5,1E+5,0.5e-3,true,false,null,{"points":[]}]}', {}],
      ['v1', '', undefined],
      ['v1', ' ', undefined],
      ['v1', '{"series":[]}x', undefined],
      ['v1', '{"series":[]}{}', undefined],
      ['v1', '{"series":[],}', undefined],
      ['v1', '{"series":[1,]}', undefined],
      ['v1', '{"series":[01]}', undefined],
      ['v1', '{"series":[1.]}', undefined],
      ['v1', '{"series":[.5]}', undefined],
      ['v1', '{"series":[+1]}', undefined],
      ['v1', '{"series":[tru]}', undefined],
      ['v1', '{"series":[NaN]}', undefined],
      ['v1', '{"series":["\\x"]}', undefined],
      ['v1', '{"series":["\\u12G4"]}', undefined],
      ['v1', '{"series":["a\tb"]}', undefined],
      ['v1', "{'series':[]}", undefined],
      ['v1', '{"series":[{"points":[1]}]', undefined],
      ['v1', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"series":[]}')]), undefined],
      ['v1', Buffer.concat([Buffer.from('{"series":[{"points":[1],"host":"a'), Buffer.from([0xff, 0xc3]), Buffer.from('"}]}')]), { 'a\ufffd\ufffd': 1 }],
      ['v1', Buffer.concat([Buffer.from('{"series":[{"points":[1],"host":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}]}')]), { '\ufffd': 1 }],
      ['v1', Buffer.concat([Buffer.from('{"series":[{"points":[1]}]}'), Buffer.from([0xa0])]), undefined],
    ];
    for (const [format, text, expected] of cases) {
      const body = Buffer.isBuffer(text) ? text : Buffer.from(text);
      const got = countJsonPoints(format, body);
      assert.deepStrictEqual(got === undefined ? undefined : Object.fromEntries(got), expected, text.toString());
      assertSame(format, body);
    }
  });

  it('deep nesting costs linear time and no call stack: 64 KiB of [ and 32,768 nested pairs', () => {
    const open = Buffer.alloc(64 * 1024, '[');
    const pairs = Buffer.from(`{"series":[{"points":[1],"x":${'['.repeat(32_768)}${']'.repeat(32_768)}}]}`);
    const objects = Buffer.from(`{"series":[{"points":[1,2],"x":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]}`);
    const started = process.hrtime.bigint();
    assert.equal(countJsonPoints('v1', open), undefined);
    assert.deepStrictEqual(Object.fromEntries(countJsonPoints('v1', pairs)!), { '': 1 });
    assert.deepStrictEqual(Object.fromEntries(countJsonPoints('v1', objects)!), { '': 2 });
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1_000);
    for (const body of [open, pairs, objects]) assertSame('v1', body);
  });

  it('a body larger than the shared copy (256 KiB), then a short one cut mid-string: each read alone', () => {
    const series = Array.from({ length: 3_000 }, (_, i) => ({ metric: `m.${i}`, host: `h-${i % 7}`, points: [[i, i / 3]], tags: ['a:"b"', 'é'] }));
    const large = Buffer.from(JSON.stringify({ series }));
    assert.ok(large.length > 256 * 1024);
    assert.equal(
      [...countJsonPoints('v1', large)!.values()].reduce((a, b) => a + b, 0),
      3_000,
    );
    assertSame('v1', large);
    assert.equal(countJsonPoints('v1', large.subarray(0, 200)), undefined);
    assert.equal(countJsonPoints('v1', Buffer.from('{"series":[{"host":"a')), undefined);
  });
});
