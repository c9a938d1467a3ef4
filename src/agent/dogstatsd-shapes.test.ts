import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DogStatsDAggregator } from './dogstatsd-aggregator.js';
import type { AgentEvent, AgentServiceCheck } from './dogstatsd-events.js';
import { parseDogStatsDLine } from './dogstatsd-parser.js';
import { DogStatsDServer } from './dogstatsd-server.js';
import { DogStatsDShapes } from './dogstatsd-shapes.js';
import { DOGSTATSD_GRAMMAR_PIECES } from '../../test/support/dogstatsd-pieces.js';

const T0 = 1_700_000_000_000;

/** What the server counts and aggregates for `packets`, through its cached shapes. */
function viaServer(packets: string[]) {
  const aggregator = new DogStatsDAggregator(
    () => 'h',
    () => ['env:test'],
  );
  const server = new DogStatsDServer(aggregator);
  for (const packet of packets) server.handle(Buffer.from(packet), T0);
  const { metrics, malformed, skipped, events, serviceChecks } = server.counters;
  return { counters: { metrics, malformed, skipped, events, serviceChecks }, series: aggregator.flushAll(), pending: server.pending.take() };
}

/** The same, line by line through parseDogStatsDLine and nothing cached (empty lines are not counted, as the server never counted them). */
function viaParser(packets: string[]) {
  const aggregator = new DogStatsDAggregator(
    () => 'h',
    () => ['env:test'],
  );
  const counters = { metrics: 0, malformed: 0, skipped: 0, events: 0, serviceChecks: 0 };
  const pending = { events: [] as AgentEvent[], checks: [] as AgentServiceCheck[] };
  for (const packet of packets) {
    for (const line of Buffer.from(packet).toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      const parsed = parseDogStatsDLine(line, T0 / 1000);
      if (parsed.kind === 'sample') {
        counters.metrics++;
        aggregator.add(parsed.sample, T0);
      } else if (parsed.kind === 'event') {
        counters.events++;
        pending.events.push(parsed.event);
      } else if (parsed.kind === 'serviceCheck') {
        counters.serviceChecks++;
        pending.checks.push(parsed.check);
      } else counters[parsed.kind === 'malformed' ? 'malformed' : 'skipped']++;
    }
  }
  return { counters, series: aggregator.flushAll(), pending };
}

function sameAsParser(packets: string[]): void {
  const server = viaServer(packets);
  const parser = viaParser(packets);
  assert.deepEqual(server.counters, parser.counters, JSON.stringify(packets));
  assert.deepEqual(server.series, parser.series, JSON.stringify(packets));
  assert.deepEqual(server.pending, parser.pending, JSON.stringify(packets));
}

test('a shape is parsed once; its value is parsed per line', () => {
  const parsed: string[] = [];
  const shapes = new DogStatsDShapes((shape) => {
    parsed.push(shape.name);
    return `${shape.type}|${shape.name}`;
  });
  const first = shapes.get('hits:1|c|#a', 4, 6);
  assert.deepEqual(first, { name: 'hits', type: 'c', sampleRate: 1, tags: ['a'], rawTags: 'a', key: 'c|hits' });
  assert.equal(shapes.get('hits:250|c|#a', 4, 8), first);
  assert.equal(shapes.get('hits:1|c|#b', 4, 6) === first, false);
  assert.deepEqual(parsed, ['hits', 'hits']);
  assert.equal(shapes.get('bad name:1|c', 8, 10), 'metric name has invalid characters');
  assert.equal(shapes.get('_e{1,1}:a|b', 7, 9), null, 'events are not metric lines');
});

test('the number of shapes is bounded: past the limit it starts over', () => {
  const shapes = new DogStatsDShapes((shape) => shape.name, 10);
  for (let i = 0; i < 25; i++) shapes.get(`m${i}:1|c`, String(i).length + 1, String(i).length + 3);
  assert.ok(shapes.count <= 10);
  assert.deepEqual(shapes.get('m3:1|c', 2, 4), { name: 'm3', type: 'c', sampleRate: 1, tags: [], rawTags: '', key: 'm3' });
});

test('the server counts and aggregates exactly as the parser, for repeated and malformed lines', () => {
  sameAsParser([
    'hits:1|c|#a:b',
    'hits:1|c|#a:b',
    'hits:2|c|@0.5|#a:b',
    'hits:x|c|#a:b', // same shape, bad value
    'hits:|c|#a:b',
    'temp:20|g\ntemp:21|g\ntemp:1:2|g',
    'lat:1:2:3|ms|#t\nlat:4|h|#t\nlat:5|d|#t',
    'users:alice|s\nusers:bob|s\nusers:|s\nusers:alice|s',
    '_e{5,4}:title|text\n_sc|svc|0\n_sc|a:1|c',
    'bad name:1|c\nbad name:2|c\nok:1|zz\nok:1|c|@2\nok:1|c|@0.25',
    'crlf:1|c\r\ncrlf:2|c\r',
    'x:1\n:1|c\nnocolon\n\n',
    'p:1|c|#b,a\np:1|c|#a,b',
  ]);
});

test('fuzz: the server agrees with the parser on lines built from the grammar', () => {
  const piece = fc.constantFrom(...DOGSTATSD_GRAMMAR_PIECES);
  fc.assert(
    fc.property(
      fc.array(
        fc.array(piece, { maxLength: 12 }).map((p) => p.join('')),
        { maxLength: 20 },
      ),
      (packets) => {
        sameAsParser(packets);
      },
    ),
    { numRuns: 3000 },
  );
});

test("a flood of lines with 60 KB tags is not remembered beyond the caches' character budgets (it once kept ~340 MB after 1,500 such packets)", () => {
  const aggregator = new DogStatsDAggregator(
    () => 'h',
    () => [],
  );
  const shapes = new DogStatsDShapes((shape) => aggregator.contextKey(shape));
  const pad = 'x'.repeat(60_000);
  for (let i = 0; i < 300; i++) {
    const line = `big.tags:1|c|#id:${i}${pad},b:${i}`;
    const shape = shapes.get(line, line.indexOf(':'), line.indexOf('|'));
    assert.ok(shape !== null && typeof shape !== 'string');
    assert.deepEqual(shape.tags, [`id:${i}${pad}`, `b:${i}`]);
    assert.ok(shapes.cachedChars <= 2 * 1024 * 1024, `shapes hold ${shapes.cachedChars} characters`);
    assert.ok(aggregator.cachedTagChars <= 2 * 1024 * 1024, `the tag cache holds ${aggregator.cachedTagChars} characters`);
  }
  assert.ok(shapes.count < 300);
  // Repeated lines are still found in the cache (same object back).
  const line = 'page.views:1|c|#env:prod,service:web';
  const first = shapes.get(line, 10, 12);
  assert.equal(shapes.get('page.views:7|c|#env:prod,service:web', 10, 12), first);
});
