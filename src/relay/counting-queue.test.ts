import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountingQueue } from './counting-queue.js';

describe('CountingQueue', () => {
  it('counts one body at a time, keys in turn, and is full for a key at its bound', async () => {
    const queue = new CountingQueue(3);
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const count = (name: string) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      order.push(name);
      running--;
      return name;
    };
    const all = [queue.run('hostile', count('h1')), queue.run('hostile', count('h2')), queue.run('hostile', count('h3'))];
    assert.equal(queue.full('hostile'), true);
    assert.equal(queue.full('agent'), false);
    all.push(queue.run('agent', count('a1')));
    assert.deepEqual(await Promise.all(all), ['h1', 'h2', 'h3', 'a1']);
    assert.equal(most, 1, 'one at a time');
    // h1 had started alone; then the keys alternate: the agent waits behind one hostile body, not two.
    assert.deepEqual(order, ['h1', 'h2', 'a1', 'h3']);
    assert.equal(queue.waitingOf('hostile'), 0);
    assert.equal(queue.full('hostile'), false);
  });

  it('passes a failed count on and goes on with the next', async () => {
    const queue = new CountingQueue();
    const failed = queue.run('k', () => Promise.reject(new Error('corrupt')));
    const next = queue.run('k', () => Promise.resolve(7));
    await assert.rejects(failed, /corrupt/);
    assert.equal(await next, 7);
    assert.equal(queue.waitingOf('k'), 0);
  });
});
