import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, defaultJournalPath } from '../../src/rotate/journal.js';

function fresh(): string {
  return join(mkdtempSync(join(tmpdir(), 'rekey-journal-')), 'journal.json');
}
const init = {
  inventory: '/inv.yaml',
  url: 'http://127.0.0.1:1',
  old_keys: [{ id: 'k1', name: 'fleet', last4: 'abcd' }],
  mode: 'create' as const,
  hosts: ['a', 'b'],
  transports: { a: 'local', b: 'ssh' },
};

test('the journal is written atomically with mode 0600 and reads back identically', () => {
  const path = fresh();
  const journal = Journal.create(path, init);
  journal.update((data) => (data.new_key = { id: 'k2', name: 'n', last4: '1234', key: 'secret-for-resume' }));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(path, '..')), ['journal.json'], 'no temporary file left behind');
  const again = Journal.resume(path);
  assert.deepEqual(again.data, journal.data);
  assert.equal(again.data.hosts['b']!.transport, 'ssh');
  assert.match(again.data.new_key_name, new RegExp(`^rekey-rotate ${again.data.rotation_id}$`));
  assert.equal(defaultJournalPath('/srv/fleet/inventory.yaml'), '/srv/fleet/.rekey-rotate.journal.json');
});

test('an unfinished journal blocks a new rotation; a completed one drops the key and cannot be resumed', () => {
  const path = fresh();
  const journal = Journal.create(path, init);
  journal.update((data) => (data.new_key = { id: 'k2', name: 'n', last4: '1234', key: 'secret-for-resume' }));
  assert.throws(
    () => Journal.create(path, init),
    (e: Error & { code?: string }) => e.code === 'ROTATION_IN_PROGRESS',
  );
  journal.complete(0);
  assert.doesNotMatch(readFileSync(path, 'utf8'), /secret-for-resume/);
  assert.equal(Journal.read(path)!.data.new_key!.last4, '1234');
  assert.throws(
    () => Journal.resume(path),
    (e: Error & { code?: string }) => e.code === 'ROTATION_NOTHING_TO_RESUME',
  );
  const next = Journal.create(path, init);
  assert.notEqual(next.data.rotation_id, undefined);
  assert.equal(next.data.new_key, undefined);
});

test('resume without a journal, and a corrupt journal, are clear errors', () => {
  const path = fresh();
  assert.throws(() => Journal.resume(path), /no journal at/);
  writeFileSync(path, '{"half": ');
  assert.throws(
    () => Journal.resume(path),
    (e: Error & { code?: string }) => e.code === 'ROTATION_JOURNAL_INVALID',
  );
  writeFileSync(path, '{"version": 9}');
  assert.throws(() => Journal.read(path), /not a rekey rotation journal/);
});

test('a host added to the inventory after the journal began starts as pending', () => {
  const journal = Journal.create(fresh(), init);
  assert.deepEqual(journal.host('c', 'command'), { state: 'pending', transport: 'command', attempts: 0 });
  assert.equal(journal.host('a', 'local').transport, 'local');
});
