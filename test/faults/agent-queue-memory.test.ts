/**
 * The agent's queue on a real read-only tmpfs: payloads the disk refuses are kept in the
 * bounded memory buffer and readable; when it is full the oldest are dropped and counted;
 * once the file system is writable again the next enqueue writes the buffered payloads to
 * disk, in order, so they survive a restart. Needs root (mount).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskQueue, type PayloadMeta } from '../../src/agent/disk-queue.js';

const meta: PayloadMeta = { path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' };

test('read-only run path: memory buffer, oldest dropped when full, written to disk when writable again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-agent-queue-ro-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=64,mode=0700', 'tmpfs', dir]);
  t.after(() => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const body = (n: number) => Buffer.from(String(n).padStart(1000, '0'));
  const queue = await DiskQueue.open(dir, { memoryMaxBytes: 3500 });
  await queue.enqueue(meta, body(0), ['main']);
  execFileSync('mount', ['-o', 'remount,ro', dir]);
  for (let n = 1; n <= 5; n++) await queue.enqueue(meta, body(n), ['main']); // never rejects
  assert.match(queue.lastWriteError ?? '', /EROFS/);
  assert.equal(queue.writeErrors, 5);
  assert.equal(queue.memoryDepth, 3, 'three ~1 KB payloads fit in 3500 bytes');
  assert.equal(queue.memoryDropped, 2, 'the two oldest were dropped');
  const first = queue.oldest('main')!;
  assert.equal((await queue.read(first))!.body.toString(), body(0).toString(), 'payload 0 (on disk) is still first');

  execFileSync('mount', ['-o', 'remount,rw', dir]);
  await queue.enqueue(meta, body(6), ['main']);
  assert.equal(queue.memoryDepth, 0);
  assert.equal(queue.lastWriteError, null);
  const reopened = await DiskQueue.open(dir);
  const bodies: string[] = [];
  for (let entry = reopened.oldest('main'); entry; entry = reopened.oldest('main')) {
    bodies.push((await reopened.read(entry))!.body.toString().replace(/^0+/, '') || '0');
    await reopened.remove(entry);
  }
  assert.deepEqual(bodies, ['0', '3', '4', '5', '6'], 'in order of arrival, on disk');
});
