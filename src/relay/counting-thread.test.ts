import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isRekeyError } from '../errors.js';
import { V1_LIMITS } from '../intake/intake-limits.js';
import { CountingQueue } from './counting-queue.js';
import { CountingThread } from './counting-thread.js';

const GZIP: Array<[string, string]> = [
  ['content-type', 'application/json'],
  ['content-encoding', 'gzip'],
];

describe('CountingThread', () => {
  const thread = new CountingThread(new CountingQueue());
  after(() => thread.close());

  it('counts 8 MiB of junk from 8 KiB of gzip without holding the event loop', async () => {
    const junk = Buffer.alloc(8 * 1024 * 1024 - 4096, '0,');
    const body = gzipSync(Buffer.concat([Buffer.from('{"series":[{"metric":"m","host":"h","points":[['), junk, Buffer.from('0]]}]}')]), { level: 9 });
    await thread.count('key', '/api/v1/series', GZIP, gzipSync('{"series":[]}'), V1_LIMITS); // warm: the worker started
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    const started = performance.now();
    try {
      const counts = await thread.count('key', '/api/v1/series', GZIP, body, V1_LIMITS);
      assert.deepEqual([...counts], [['h', 1]]);
    } finally {
      clearInterval(ticker);
    }
    longest = Math.max(longest, performance.now() - last); // a count ending the wait ran after the last tick
    const took = performance.now() - started;
    // On the event loop it held it ~70–140 ms at once (counting-thread.ts); here ticks go on.
    assert.ok(longest < Math.max(25, took / 2), `the longest gap between ticks: ${longest.toFixed(1)} ms of ${took.toFixed(1)} ms counting`);
  });

  it('counts small bodies at once: 200 of one key sent together never wait in the queue', async () => {
    const queue = new CountingQueue(4);
    const own = new CountingThread(queue);
    try {
      const small = gzipSync(JSON.stringify({ series: [{ metric: 'm', host: 'a', points: [[1, 1]] }] }));
      const counting = Array.from({ length: 200 }, () => own.count('fleet', '/api/v1/series', GZIP, small, V1_LIMITS));
      assert.equal(queue.waitingOf('fleet'), 0);
      assert.equal(queue.full('fleet'), false);
      for (const counts of await Promise.all(counting)) assert.deepEqual([...counts], [['a', 1]]);
    } finally {
      await own.close();
    }
  });

  it('a worker that ends mid-count fails the counts waiting on it (not as a body error), and the next count starts a new one', async () => {
    const own = new CountingThread(new CountingQueue());
    try {
      const junk = Buffer.alloc(8 * 1024 * 1024 - 4096, '0,');
      const body = gzipSync(Buffer.concat([Buffer.from('{"series":[{"metric":"m","host":"h","points":[['), junk, Buffer.from('0]]}]}')]), { level: 9 });
      const counting = own.count('key', '/api/v1/series', GZIP, body, V1_LIMITS);
      // Until the body is on the worker (its inline attempt, up to 64 KiB, comes first).
      while (own['worker'] === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
      await own.close();
      // Not a RekeyError: the intake answers 503 RELAY_COUNTING_FAILED (intake-relay.ts), not 400.
      await assert.rejects(counting, (error) => error instanceof Error && !isRekeyError(error) && /counting worker exited/.test(error.message));
      assert.deepEqual([...(await own.count('key', '/api/v1/series', GZIP, body, V1_LIMITS))], [['h', 1]]);
    } finally {
      await own.close();
    }
  });

  it("answers the intake's error for a body it cannot count, and counts a small body inline", async () => {
    const corrupt = Buffer.concat([gzipSync(Buffer.alloc(300_000, ' ')).subarray(0, 200), Buffer.alloc(200, 7)]);
    await assert.rejects(thread.count('key', '/api/v1/series', GZIP, corrupt, V1_LIMITS), (error) => isRekeyError(error) && error.status === 400);
    const tooLarge = gzipSync(Buffer.alloc(9 * 1024 * 1024, ' '));
    await assert.rejects(thread.count('key', '/api/v1/series', GZIP, tooLarge, V1_LIMITS), (error) => isRekeyError(error, 'PAYLOAD_TOO_LARGE'));
    const small = gzipSync(
      JSON.stringify({
        series: [
          {
            metric: 'm',
            host: 'a',
            points: [
              [1, 1],
              [2, 2],
            ],
          },
        ],
      }),
    );
    assert.deepEqual([...(await thread.count('key', '/api/v1/series', GZIP, small, V1_LIMITS))], [['a', 2]]);
  });
});
