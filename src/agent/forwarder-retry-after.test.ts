/**
 * rekey-agent honours the intake's Retry-After (issue 15 row 1: the intake's rate limits and
 * storage outages answer 429/503 with it): the next attempt waits at least that long even
 * when the backoff alone would retry sooner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { waitFor } from '../../test/agent/support/recording-intake.js';
import { DiskQueue } from './disk-queue.js';
import { Forwarder } from './forwarder.js';

const silent = { info() {}, warn() {}, error() {}, debug() {} };

test('a 429 with Retry-After: 1 delays the retry by a second, not the 10 ms backoff', async (t) => {
  const attempts: number[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      attempts.push(performance.now());
      if (attempts.length === 1) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
        response.end('{"errors":["Too many intake requests from this API key; retry after 1 s"]}');
      } else {
        response.writeHead(202, { 'content-type': 'application/json' });
        response.end('{"status":"ok"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'rekey-retry-after-'));
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const queue = await DiskQueue.open(dir);
  const forwarder = new Forwarder({ queue, backoff: { baseMs: 10, maxMs: 20 }, logger: silent, userAgent: 't' });
  forwarder.setDestinations([{ id: 'main', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: () => 'a'.repeat(28) + '0001' }]);
  await queue.enqueue({ path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' }, deflateSync('{"series":[]}'), ['main']);
  await waitFor(() => queue.depth === 0, 10_000, 'the payload to be delivered after the 429');
  assert.equal(attempts.length, 2);
  const gap = attempts[1]! - attempts[0]!;
  assert.ok(gap >= 950, `retried after ${gap.toFixed(0)} ms`);
  assert.ok(gap < 5000, `retried after ${gap.toFixed(0)} ms`);
  await forwarder.drain(100);
});
