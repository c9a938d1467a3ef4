import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { RecordingIntake, waitFor } from '../../test/agent/support/recording-intake.js';
import { DiskQueue, type PayloadMeta } from './disk-queue.js';
import { Forwarder } from './forwarder.js';

const meta: PayloadMeta = { path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' };
const silent = { info() {}, warn() {}, error() {}, debug() {} };
const OLD_KEY = 'a'.repeat(28) + '0001';
const NEW_KEY = 'b'.repeat(28) + '0002';

function seriesBody(value: number): Buffer {
  return deflateSync(JSON.stringify({ series: [{ metric: 'm', points: [[1_700_000_000 + value, value]], type: 'gauge', host: 'h', tags: [] }] }));
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, keys: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'rekey-forwarder-'));
  const intake = await RecordingIntake.start(keys);
  const queue = await DiskQueue.open(dir);
  t.after(async () => {
    await intake.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { intake, queue };
}

test('a 403 keeps the payloads; a new key delivers all of them at once', async (t) => {
  const { intake, queue } = await setup(t, [NEW_KEY]);
  let key = OLD_KEY;
  let forbidden = 0;
  // A long backoff: only keyChanged() can explain a quick delivery.
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 60_000, maxMs: 60_000 }, logger: silent, userAgent: 't', onForbidden: () => forbidden++ });
  forwarder.setDestinations([{ id: 'main', url: intake.url, apiKey: () => key }]);
  for (let i = 1; i <= 5; i++) await queue.enqueue(meta, seriesBody(i), ['main']);
  await waitFor(() => intake.requests.length >= 1, 5000, 'the first attempt');
  assert.equal(intake.requests[0]!.status, 403);
  assert.equal(forbidden, 1);
  assert.equal(queue.depth, 5);
  assert.equal(forwarder.status()[0]!.keyState, 'rejected');
  key = NEW_KEY;
  forwarder.keyChanged();
  await waitFor(() => queue.depth === 0, 5000, 'the queue to drain with the new key');
  assert.deepEqual(
    [...intake.series('m').keys()].sort(),
    [1, 2, 3, 4, 5].map((i) => 1_700_000_000 + i),
  );
  assert.ok(intake.requests.filter((r) => r.status === 202).every((r) => r.keyLast4 === '0002'));
  assert.equal(forwarder.status()[0]!.keyState, 'accepted');
  assert.equal(forwarder.status()[0]!.keyLast4, '0002');
  await forwarder.drain(100);
});

test('5xx and 429 are retried with backoff; a bad payload (400) is dropped, not retried forever', async (t) => {
  const { intake, queue } = await setup(t, [OLD_KEY]);
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 20, maxMs: 80 }, logger: silent, userAgent: 't' });
  forwarder.setDestinations([{ id: 'main', url: intake.url, apiKey: () => OLD_KEY }]);
  intake.mode = 'error500';
  await queue.enqueue(meta, seriesBody(1), ['main']);
  await waitFor(() => intake.requests.length >= 3, 5000, 'three retries');
  intake.mode = 'error429';
  await waitFor(() => intake.requests.some((r) => r.status === 429), 5000, 'a 429');
  intake.mode = 'ok';
  await queue.enqueue(meta, Buffer.from('not deflate'), ['main']);
  await queue.enqueue(meta, seriesBody(2), ['main']);
  await waitFor(() => queue.depth === 0, 5000, 'the queue to drain');
  const status = forwarder.status()[0]!;
  assert.equal(status.sent, 2);
  assert.equal(status.dropped, 1);
  assert.ok(status.errored >= 4);
  assert.deepEqual([...intake.series('m').values()].sort(), [1, 2]);
  await forwarder.drain(100);
});

test('a dead additional endpoint does not hold back the main intake', async (t) => {
  const { intake, queue } = await setup(t, [OLD_KEY]);
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 50, maxMs: 100 }, logger: silent, userAgent: 't' });
  forwarder.setDestinations([
    { id: 'main', url: intake.url, apiKey: () => OLD_KEY },
    { id: 'ae-dead-0', url: 'http://127.0.0.1:9', apiKey: () => OLD_KEY },
  ]);
  for (let i = 1; i <= 3; i++) await queue.enqueue(meta, seriesBody(i), ['main', 'ae-dead-0']);
  await waitFor(() => queue.depthFor('main') === 0, 5000, 'main to drain');
  assert.equal(queue.depthFor('ae-dead-0'), 3);
  const dead = forwarder.status().find((d) => d.id === 'ae-dead-0')!;
  assert.match(dead.lastError ?? '', /network error/);
  await forwarder.drain(50);
  assert.equal(queue.depthFor('ae-dead-0'), 3, 'undelivered payloads stay queued');
});

test("a 400 is logged with the intake's errors (never the key) before the payload is dropped; a 202 with errors is counted", async (t) => {
  const { intake, queue } = await setup(t, [OLD_KEY]);
  const warnings: string[] = [];
  const logger = { ...silent, warn: (fields: object, message: string) => warnings.push(`${message} ${JSON.stringify(fields)}`) };
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 20, maxMs: 80 }, logger, userAgent: 't' });
  forwarder.setDestinations([{ id: 'main', url: intake.url, apiKey: () => OLD_KEY }]);
  // An intake that quotes the key back must not get it into the log.
  intake.answer = () => ({ status: 400, body: { errors: [`series[0].tags has a tag longer than 200 characters (key ${OLD_KEY})`] } });
  await queue.enqueue(meta, seriesBody(1), ['main']);
  await waitFor(() => queue.depth === 0, 5000, 'the bad payload to be dropped');
  let status = forwarder.status()[0]!;
  assert.equal(status.dropped, 1);
  assert.match(status.lastError ?? '', /intake answered 400; payload .* dropped: series\[0\]\.tags has a tag longer than 200 characters/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /tag longer than 200 characters/);
  assert.ok(!warnings.join('').includes(OLD_KEY) && !(status.lastError ?? '').includes(OLD_KEY), 'the key is masked');

  intake.answer = () => ({ status: 202, body: { errors: ['series[1].metric is longer than 200 characters'] } });
  await queue.enqueue(meta, seriesBody(2), ['main']);
  await waitFor(() => queue.depth === 0, 5000, 'the partly refused payload');
  status = forwarder.status()[0]!;
  assert.equal(status.sent, 1);
  assert.equal(status.partiallyRejected, 1);
  assert.match(warnings[1]!, /refused part of it: series\[1\]\.metric is longer/);
  await forwarder.drain(100);
});

test('an intake URL carrying a secret (dd_url with ?api_key=…, user:password@) is never logged or shown in the status with it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rekey-forwarder-url-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const queue = await DiskQueue.open(dir);
  const lines: string[] = [];
  const logger = { info() {}, error() {}, debug() {}, warn: (fields: unknown, message: string) => void lines.push(`${JSON.stringify(fields)} ${message}`) };
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 60_000, maxMs: 60_000 }, logger, userAgent: 't' });
  // Nothing listens on port 9: a network error, logged with the destination's URL.
  forwarder.setDestinations([{ id: 'main', url: `http://user:${NEW_KEY}@127.0.0.1:9/?api_key=${OLD_KEY}`, apiKey: () => OLD_KEY }]);
  await queue.enqueue(meta, seriesBody(1), ['main']);
  await waitFor(() => lines.length > 0, 5000, 'the network error logged');
  const status = JSON.stringify(forwarder.status());
  await forwarder.drain(0);
  for (const text of [...lines, status]) {
    assert.ok(!text.includes(OLD_KEY) && !text.includes(NEW_KEY), text);
  }
  assert.match(status, /"url":"http:\/\/127\.0\.0\.1:9 \(credentials and query hidden\)"/);
});
