import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskQueue, type PayloadMeta } from './disk-queue.js';

const meta: PayloadMeta = { path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' };

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rekey-queue-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('payloads survive a reopen, in order, per destination', async (t) => {
  const dir = await tempDir(t);
  const queue = await DiskQueue.open(dir);
  const id1 = await queue.enqueue(meta, Buffer.from('one'), ['main', 'ae-x-0']);
  const id2 = await queue.enqueue({ ...meta, path: '/intake/' }, Buffer.from('two'), ['main']);
  assert.equal(queue.depth, 3);
  const reopened = await DiskQueue.open(dir);
  assert.equal(reopened.depth, 3);
  assert.equal(reopened.bytes, queue.bytes);
  const first = reopened.oldest('main')!;
  assert.equal(first.id, id1);
  const payload = await reopened.read(first);
  assert.deepEqual({ ...payload, body: payload!.body.toString() }, { id: id1, ...meta, body: 'one' });
  await reopened.remove(first);
  assert.equal(reopened.oldest('main')!.id, id2);
  assert.equal(reopened.oldest('ae-x-0')!.id, id1);
  // The next id is after the ones on disk.
  const id3 = await reopened.enqueue(meta, Buffer.from('three'), ['main']);
  assert.ok(id3 > id2);
});

test('a half-written payload (killed before the rename) is deleted, never read', async (t) => {
  const dir = await tempDir(t);
  const queue = await DiskQueue.open(dir);
  await queue.enqueue(meta, Buffer.from('complete'), ['main']);
  await writeFile(join(dir, 'queue-tmp', '9999999999999-00000099.main.payload'), '{"path":"/api/v1/ser');
  const reopened = await DiskQueue.open(dir);
  assert.equal(reopened.depth, 1);
  assert.deepEqual(await readdir(join(dir, 'queue-tmp')), []);
});

test('a damaged payload is discarded and counted', async (t) => {
  const dir = await tempDir(t);
  const queue = await DiskQueue.open(dir);
  await queue.enqueue(meta, Buffer.from('payload body'), ['main']);
  const entry = queue.oldest('main')!;
  const file = join(dir, 'queue', entry.file);
  const content = await readFile(file);
  content[content.length - 1] = content.at(-1)! ^ 0xff;
  await writeFile(file, content);
  assert.equal(await queue.read(entry), undefined);
  assert.equal(queue.corrupt, 1);
  assert.equal(queue.depth, 0);
  assert.deepEqual(await readdir(join(dir, 'queue')), []);
});

test('when full, the oldest payloads are dropped and counted', async (t) => {
  const dir = await tempDir(t);
  const queue = await DiskQueue.open(dir, { maxBytes: 1000 });
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(await queue.enqueue(meta, Buffer.alloc(200, i), ['main']));
  assert.ok(queue.bytes <= 1000);
  assert.ok(queue.dropped >= 5, `dropped ${queue.dropped}`);
  assert.equal(queue.depth + queue.dropped, 10);
  assert.equal(queue.oldest('main')!.id, ids[queue.dropped]);
  assert.equal((await readdir(join(dir, 'queue'))).length, queue.depth);
});
