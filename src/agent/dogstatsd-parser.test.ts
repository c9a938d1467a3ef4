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

test('blank lines are skipped, not malformed', () => {
  assert.equal(parseDogStatsDLine('').kind, 'skipped');
  assert.equal(parseDogStatsDLine('\r').kind, 'skipped');
});

test("an event: title and text cut at their UTF-8 byte lengths, every optional field in the Agent's JSON names", () => {
  const title = 'Déploiement';
  const text = 'v2 | ok\\nline 2';
  const line = `_e{${Buffer.byteLength(title)},${Buffer.byteLength(text)}}:${title}|${text}|d:1700000000|h:web-1|k:deploys|p:low|s:jenkins|t:success|#env:prod,team:a|c:container`;
  const parsed = parseDogStatsDLine(line, 1);
  assert.equal(parsed.kind, 'event');
  assert.deepEqual(parsed.kind === 'event' && parsed.event, {
    msg_title: 'Déploiement',
    msg_text: 'v2 | ok\nline 2',
    timestamp: 1_700_000_000,
    priority: 'low',
    host: 'web-1',
    tags: ['env:prod', 'team:a'],
    alert_type: 'success',
    aggregation_key: 'deploys',
    source_type_name: 'jenkins',
  });
  const minimal = parseDogStatsDLine('_e{5,4}:title|text', 42);
  assert.deepEqual(minimal.kind === 'event' && [minimal.event.timestamp, minimal.event.priority, minimal.event.alert_type, minimal.event.host], [
    42,
    'normal',
    'info',
    '',
  ]);
  // A client that counted UTF-16 characters ("é" is 1, not 2): the only reading that fits.
  const chars = parseDogStatsDLine('_e{2,1}:éa|b', 1);
  assert.deepEqual(chars.kind === 'event' && [chars.event.msg_title, chars.event.msg_text], ['éa', 'b']);
});

test('a service check: name, status, timestamp, host, tags and a message that may hold "|"', () => {
  const parsed = parseDogStatsDLine('_sc|db.up|2|d:1700000000|h:db-1|#env:prod|m:down | since 3 min\\nretrying', 1);
  assert.deepEqual(parsed.kind === 'serviceCheck' && parsed.check, {
    check: 'db.up',
    host_name: 'db-1',
    status: 2,
    timestamp: 1_700_000_000,
    message: 'down | since 3 min\nretrying',
    tags: ['env:prod'],
  });
  const minimal = parseDogStatsDLine('_sc|name|0', 7);
  assert.deepEqual(minimal.kind === 'serviceCheck' && minimal.check, { check: 'name', host_name: '', status: 0, timestamp: 7, message: '', tags: [] });
});

test('malformed events and service checks are reported with a reason', () => {
  for (const line of [
    '_e{5,4}title|text',
    '_e{a,4}:title|text',
    '_e{0,4}:|text',
    '_e{9,4}:title|text',
    '_e{5,9}:title|text',
    '_e{5,4}:title|text2',
    '_sc|',
    '_sc|x',
    '_sc|x|4',
    '_sc|x|ok',
    '_sc|x|0|d:soon',
  ]) {
    assert.equal(parseDogStatsDLine(line).kind, 'malformed', line);
  }
});

test('rejects malformed lines with a reason', () => {
  for (const line of [
    'nocolon',
    ':1|c',
    'a:1',
    'a:1|x',
    'a:|c',
    'a:abc|c',
    'a:1|c|@0',
    'a:1|c|@2',
    'a:1|c|@',
    'a:NaN|g',
    'a:Infinity|c',
    'a b:1|c',
    'a:1:2|g',
    'a: 1|c',
  ]) {
    const parsed = parseDogStatsDLine(line);
    assert.equal(parsed.kind, 'malformed', line);
  }
});

test('a multi-metric packet parses line by line', () => {
  const lines = parseDogStatsDPacket('a:1|c\nb:2|g\nbroken\n');
  assert.deepEqual(
    lines.map((l) => l.kind),
    ['sample', 'sample', 'malformed', 'skipped'],
  );
});

test('fuzz: any string parses to a sample, skipped or malformed and never throws', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      for (const parsed of parseDogStatsDPacket(text)) {
        assert.ok(['sample', 'event', 'serviceCheck', 'skipped', 'malformed'].includes(parsed.kind));
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
  for (const [value, expected] of [
    ['10', 10],
    ['-1.5', -1.5],
    ['+2', 2],
    ['.5', 0.5],
    ['1e3', 1000],
    ['0', 0],
    ['0.25', 0.25],
  ] as const) {
    const parsed = parseDogStatsDLine(`ok.c:${value}|c`);
    assert.deepEqual(parsed.kind === 'sample' && parsed.sample.values, [expected], value);
  }
});
