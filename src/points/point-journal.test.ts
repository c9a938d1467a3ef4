import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PointJournal } from './point-journal.js';

const record = (n: number) => new Uint8Array(Array.from({ length: 10 + n }, (_, i) => (i * 31 + n) & 255));
const files = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.journal')).sort();

describe('the intake journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-journal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives back every record appended before a crash, in order, across files', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.append(record(2));
    journal.rotate();
    journal.append(record(3));
    // No close: the process "died" here.
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(recovered.records.map((r) => [...r]), [record(1), record(2), record(3)].map((r) => [...r]));
    assert.equal(recovered.files.length, 2);
    assert.equal(recovered.dropped, 0);
  });

  it('keeps what precedes a torn last record and drops the torn one', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.append(record(200));
    const [file] = files(dir);
    truncateSync(join(dir, file!), readFileSync(join(dir, file!)).length - 5); // the crash cut the last write short
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(recovered.records.map((r) => [...r]), [[...record(1)]]);
    assert.equal(recovered.dropped, 1);
  });

  it('stops at a record whose checksum does not match', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.append(record(2));
    const path = join(dir, files(dir)[0]!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(path, bytes);
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 1);
    assert.equal(recovered.dropped, 1);
  });

  it("leaves the files of another running process alone, and reads those of dead ones and of this pid's earlier life", () => {
    const name = (pid: number) => `000000000000001-${pid}-abcd1234-000000000.journal`;
    const running = process.ppid; // the test runner: alive, and not this process
    writeFileSync(join(dir, name(running)), '');
    writeFileSync(join(dir, name(2 ** 22 + 12345)), ''); // above Linux's pid_max: never running
    writeFileSync(join(dir, name(process.pid)), '');
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(recovered.files.map((f) => f.slice(dir.length + 1)).sort(), [name(2 ** 22 + 12345), name(process.pid)].sort());
  });

  it('deletes files once their records are saved, and everything on a saved close', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    const finished = journal.rotate();
    assert.equal(files(dir).length, 2);
    journal.remove(finished);
    assert.equal(files(dir).length, 1, 'only the file being appended to remains');
    journal.append(record(2));
    journal.close(true);
    assert.deepEqual(files(dir), []);
  });

  it('keeps its files on an unsaved close, for the next start', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.close(false);
    assert.equal(PointJournal.recover(dir).records.length, 1);
  });

  it('reads nothing from a directory that does not exist yet', () => {
    assert.deepEqual(PointJournal.recover(join(dir, 'missing')), { records: [], files: [], dropped: 0 });
  });
});
