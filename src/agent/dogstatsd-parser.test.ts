import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseDogStatsDLine, parseDogStatsDPacket } from './dogstatsd-parser.js';

test('parses every metric type with tags and sample rate', () => {
  const count = parseDogStatsDLine('page.views:3|c|@0.1|#env:prod,web');
  assert.deepEqual(count, {
    kind: 'sample',
    sample: { name: 'page.views', type: 'c', values: [3], setValue: '', sampleRate: 0.1, tags: ['env:prod', 'web'], rawTags: 'env:prod,web' },
  });
  for (const type of ['g', 'h', 'd', 'ms'] as const) {
    const parsed = parseDogStatsDLine(`x.y:-1.5|${type}`);
    assert.equal(parsed.kind, 'sample');
    if (parsed.kind === 'sample') assert.deepEqual([parsed.sample.type, parsed.sample.values], [type, [-1.5]]);
  }
  const set = parseDogStatsDLine('users.uniques:alice|s|#a:b');
  assert.equal(set.kind === 'sample' && set.sample.setValue, 'alice');
  const multi = parseDogStatsDLine('lat:1:2:3|h|#t');
  assert.deepEqual(multi.kind === 'sample' && multi.sample.values, [1, 2, 3]);
  const ignoredFields = parseDogStatsDLine('a:1|c|c:abcdef|T1700000000|#x');
  assert.deepEqual(ignoredFields.kind === 'sample' && ignoredFields.sample.tags, ['x']);
});

test('events, service checks and blank lines are skipped, not malformed', () => {
  assert.equal(parseDogStatsDLine('_e{5,4}:title|text').kind, 'skipped');
  assert.equal(parseDogStatsDLine('_sc|name|0').kind, 'skipped');
  assert.equal(parseDogStatsDLine('').kind, 'skipped');
});

test('rejects malformed lines with a reason', () => {
  for (const line of ['nocolon', ':1|c', 'a:1', 'a:1|x', 'a:|c', 'a:abc|c', 'a:1|c|@0', 'a:1|c|@2', 'a:1|c|@', 'a:NaN|g', 'a:Infinity|c', 'a b:1|c', 'a:1:2|g', 'a: 1|c']) {
    const parsed = parseDogStatsDLine(line);
    assert.equal(parsed.kind, 'malformed', line);
  }
});

test('a multi-metric packet parses line by line', () => {
  const lines = parseDogStatsDPacket('a:1|c\nb:2|g\nbroken\n');
  assert.deepEqual(lines.map((l) => l.kind), ['sample', 'sample', 'malformed', 'skipped']);
});

test('fuzz: any string parses to a sample, skipped or malformed and never throws', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      for (const parsed of parseDogStatsDPacket(text)) {
        assert.ok(['sample', 'skipped', 'malformed'].includes(parsed.kind));
        if (parsed.kind === 'sample') {
          assert.ok(parsed.sample.sampleRate > 0 && parsed.sample.sampleRate <= 1);
          assert.ok(parsed.sample.values.every(Number.isFinite));
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test('fuzz: near-valid lines built from the grammar never throw', () => {
  const piece = fc.constantFrom('a.b', ':', '|', '#', '@', ',', '1', '-2.5', 'c', 'g', 's', 'h', 'd', 'ms', '0.5', 'e', '\n', '\r', 'NaN', ' ', '_e{', '_sc');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
      const text = pieces.join('');
      assert.doesNotThrow(() => parseDogStatsDPacket(text));
    }),
    { numRuns: 5000 },
  );
});

test('JavaScript-only number forms (0x10, 0b1, 0o7) are malformed, as in the Datadog Agent, not read as 16, 1, 7', () => {
  for (const value of ['0x10', '0X1f', '0b1', '0o7', '-0x10', '+0x1']) {
    const parsed = parseDogStatsDLine(`hex.c:${value}|c`);
    assert.equal(parsed.kind, 'malformed', value);
  }
  for (const [value, expected] of [['10', 10], ['-1.5', -1.5], ['+2', 2], ['.5', 0.5], ['1e3', 1000], ['0', 0], ['0.25', 0.25]] as const) {
    const parsed = parseDogStatsDLine(`ok.c:${value}|c`);
    assert.deepEqual(parsed.kind === 'sample' && parsed.sample.values, [expected], value);
  }
});
