import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isRekeyError } from '../errors.js';
import { PointJournal } from './point-journal.js';

const record = (n: number) => new Uint8Array(Array.from({ length: 10 + n }, (_, i) => (i * 31 + n) & 255));
const files = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.journal'))
    .sort();
/** The name of the one journal file an unsaved close leaves in `dir`, holding `record(n)` for each of `numbers`. */
function unsavedJournalFile(dir: string, numbers: readonly number[]): string {
  const journal = PointJournal.open(dir);
  for (const n of numbers) journal.append(record(n));
  journal.close(false);
  const [written] = files(dir);
  return written!;
}

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
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [record(1), record(2), record(3)].map((r) => [...r]),
    );
    assert.equal(recovered.files.length, 2);
    assert.equal(recovered.dropped, 0);
  });

  it('skips a file listed but gone before it is read (another server on the data directory recovered it first)', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    // A name readdir lists and open() cannot find: what a file recovered and deleted by another
    // process between this one's readdir and its read looks like.
    symlinkSync(join(dir, 'gone'), join(dir, `${'0'.repeat(15)}-${process.pid}-deadbeef-000000000.journal`));
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [[...record(1)]],
    );
    assert.equal(recovered.files.length, 1, 'the vanished file is not reported as recovered');
  });

  it('keeps what precedes a torn last record and drops the torn one', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.append(record(200));
    const [file] = files(dir);
    truncateSync(join(dir, file!), readFileSync(join(dir, file!)).length - 5); // the crash cut the last write short
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [[...record(1)]],
    );
    assert.equal(recovered.dropped, 1);
  });

  it('skips a torn record in the middle of a file and keeps reading after it', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    journal.append(record(200));
    journal.append(record(3));
    journal.close(false);
    const path = join(dir, files(dir)[0]!);
    const bytes = readFileSync(path);
    // Cut 50 bytes out of the middle record, as a short write a crash kept from being cut back would leave it.
    const secondStart = 8 + 12 + record(1).length;
    writeFileSync(path, Buffer.concat([bytes.subarray(0, secondStart + 60), bytes.subarray(secondStart + 110)]));
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [record(1), record(3)].map((r) => [...r]),
    );
    assert.equal(recovered.dropped, 1);
    assert.equal(recovered.droppedBytes, 12 + record(200).length - 50);
  });

  it('does not take a record forged inside another record for a real one', () => {
    // A payload that carries bytes shaped like a record of its own (without the file's salt) stays one record.
    const journal = PointJournal.open(dir);
    const inner = Buffer.concat([Buffer.from('RKJ2RKJ2'), Buffer.alloc(40, 7)]);
    journal.append(inner);
    journal.close(false);
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => Buffer.from(r).toString('hex')),
      [inner.toString('hex')],
    );
  });

  it('still reads files of the earlier format (u32 length | u32 CRC-32 | body), up to their first bad record', () => {
    const body = Buffer.from(record(5));
    const frame = Buffer.alloc(8);
    frame.writeUInt32LE(body.length, 0);
    frame.writeUInt32LE(crc32(body), 4);
    writeFileSync(join(dir, `000000000000001-${2 ** 22 + 7}-abcd1234-000000000.journal`), Buffer.concat([frame, body, frame.subarray(0, 5)]));
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [[...body]],
    );
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
    // The dead process's file is claimed: renamed to carry this process's id (and the old one).
    const claimed = `000000000000001-${process.pid}-from${2 ** 22 + 12345}.abcd1234-000000000.journal`;
    assert.deepEqual(recovered.files.map((f) => f.slice(dir.length + 1)).sort(), [claimed, name(process.pid)].sort());
    assert.deepEqual(files(dir), [name(running), claimed, name(process.pid)].sort());
  });

  it('names each file it leaves to a running process, with that pid, for the caller to warn about; renamed with moved-, such a file is read', () => {
    const written = unsavedJournalFile(dir, [6]);
    const bytes = readFileSync(join(dir, written));
    rmSync(join(dir, written));
    const running = process.ppid; // the test runner: alive, and not this process (as after a pid reuse)
    const names = [`000000000000001-${running}-abcd1234-000000000.journal`, `000000000000002-${running}-from${2 ** 22 + 5}.abcd1234-000000001.journal`];
    for (const name of names) writeFileSync(join(dir, name), bytes);
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 0, "a live process's files are not read");
    assert.deepEqual(
      recovered.liveWriters,
      names.map((name) => ({ file: join(dir, name), pid: running })),
    );
    assert.deepEqual(files(dir), names, 'left as they were');
    // What the warning tells an operator to do when that pid is not a rekey server on this directory.
    renameSync(join(dir, names[0]!), join(dir, `moved-${names[0]!}`));
    const again = PointJournal.recover(dir);
    assert.equal(again.records.length, 1);
    assert.deepEqual(again.liveWriters, [{ file: join(dir, names[1]!), pid: running }]);
  });

  it('claims a file claimed before (its claimer died too) without growing its name', () => {
    const written = unsavedJournalFile(dir, [5]);
    const [time, , ...rest] = written.split('-');
    const deadClaimer = 2 ** 22 + 7;
    const deadWriter = 2 ** 22 + 12345;
    renameSync(join(dir, written), join(dir, `${time}-${deadClaimer}-from${deadWriter}.${rest.join('-')}`));
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 1);
    assert.deepEqual(files(dir), [`${time}-${process.pid}-from${deadWriter}.${rest.join('-')}`]);
  });

  it("claims a hand-named file with a newline in its name once, and knows its claimed name as its claimer's", () => {
    const source = PointJournal.open(dir);
    source.append(record(6));
    source.close(false);
    const [written] = files(dir);
    // A claimed name holding a newline did not match JOURNAL_NAME (. stops at a newline): it was
    // taken for a hand-named file again, so each start nested one more prefix into the name, and
    // a second server took it from its live claimer.
    const deadClaimer = 2 ** 22 + 7;
    renameSync(join(dir, written!), join(dir, `000000000000000-${deadClaimer}-fromhand.a\nb.journal`));
    assert.equal(PointJournal.recover(dir).records.length, 1);
    assert.deepEqual(files(dir), [`000000000000000-${process.pid}-fromhand.a\nb.journal`]);
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      renameSync(join(dir, files(dir)[0]!), join(dir, `000000000000000-${live.pid}-fromhand.a\nb.journal`));
      const recovered = PointJournal.recover(dir);
      assert.equal(recovered.records.length, 0);
      assert.deepEqual(
        recovered.liveWriters.map((writer) => writer.pid),
        [live.pid],
      );
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('reads a file whose pid field is not a plain number, instead of taking it for a live process (1e0 is pid 1 to Number)', () => {
    const written = unsavedJournalFile(dir, [3]);
    const odd = written.replace(`-${process.pid}-`, '-1e0-');
    renameSync(join(dir, written), join(dir, odd));
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [[...record(3)]],
    );
    assert.deepEqual(files(dir), [`000000000000000-${process.pid}-fromhand.${odd}`], 'claimed as a file copied in by hand');
  });

  it('never gives two claimed files one name, however often they are claimed', () => {
    const written = unsavedJournalFile(dir, [1]);
    const bytes = readFileSync(join(dir, written));
    rmSync(join(dir, written));
    // Two files that differ only in their writer's pid, each claimed once by a claimer that died too.
    for (const writer of [2 ** 22 + 1, 2 ** 22 + 2]) writeFileSync(join(dir, `000000000000001-${2 ** 22 + 9}-from${writer}.x.journal`), bytes);
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 2);
    assert.equal(files(dir).length, 2);
  });

  it('claims a file named otherwise (copied in by hand), keeping its name in the claimed one, and reads it', () => {
    const written = unsavedJournalFile(dir, [7]);
    renameSync(join(dir, written), join(dir, 'my backup copy.journal'));
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [[...record(7)]],
    );
    const claimed = `000000000000000-${process.pid}-fromhand.my backup copy.journal`;
    assert.deepEqual(files(dir), [claimed]);
    assert.deepEqual(recovered.files, [join(dir, claimed)]);
    // Its claimer died before the save (a crash loop): the next start claims it again, and its name does not grow.
    const deadClaimer = 2 ** 22 + 7;
    renameSync(join(dir, claimed), join(dir, claimed.replace(`-${process.pid}-`, `-${deadClaimer}-`)));
    assert.equal(PointJournal.recover(dir).records.length, 1);
    assert.deepEqual(files(dir), [claimed]);
  });

  it('claims a file whose hand-given name only looks like a rekey one (its time is not digits), even if its "pid" runs', () => {
    const written = unsavedJournalFile(dir, [4]);
    const hand = `backup-${process.ppid}-12.journal`; // "pid" field: the test runner, alive
    renameSync(join(dir, written), join(dir, hand));
    assert.equal(PointJournal.recover(dir).records.length, 1);
    assert.deepEqual(files(dir), [`000000000000000-${process.pid}-fromhand.${hand}`]);
  });

  it("does not claim a file onto the name of one this pid's earlier life claimed (rename would replace it)", () => {
    const written = unsavedJournalFile(dir, [2]);
    const bytes = readFileSync(join(dir, written));
    rmSync(join(dir, written));
    // An earlier life of this pid (a container restart) claimed 'x.journal' and died; the same name was copied in again.
    const earlier = `000000000000000-${process.pid}-fromhand.x.journal`;
    writeFileSync(join(dir, earlier), bytes);
    writeFileSync(join(dir, 'x.journal'), bytes);
    assert.equal(PointJournal.recover(dir).records.length, 2);
    assert.equal(files(dir).length, 2);
    assert.ok(files(dir).includes(earlier));
  });

  it('bounds the claimed name of a file with a long hand-given name, and keeps two such names apart', () => {
    const written = unsavedJournalFile(dir, [9]);
    const bytes = readFileSync(join(dir, written));
    rmSync(join(dir, written));
    // 250 bytes each (NAME_MAX is 255), two-byte characters among them; they differ only in the last character before .journal.
    const long = (last: string) => `${'y'.repeat(10)}${'é'.repeat(60)}${'x'.repeat(250 - 10 - 120 - 1 - 8)}${last}.journal`;
    assert.equal(Buffer.byteLength(long('a')), 250);
    for (const last of ['a', 'b']) writeFileSync(join(dir, long(last)), bytes);
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 2);
    const claimed = files(dir);
    assert.equal(claimed.length, 2);
    for (const name of claimed) {
      // With a 7-digit pid, the longest Linux gives, still at most 255 bytes.
      assert.ok(Buffer.byteLength(name) - String(process.pid).length + 7 <= 255, `${name}: ${Buffer.byteLength(name)} bytes`);
      assert.ok(name.startsWith(`000000000000000-${process.pid}-fromhand.${'y'.repeat(10)}${'é'.repeat(60)}`), name);
      assert.match(name, /~[0-9a-f]{16}\.journal$/);
    }
  });

  it("claims a long name shaped like rekey's but not given by it (a dead 'pid') as a hand-named file, instead of failing ENAMETOOLONG at every start", () => {
    const source = PointJournal.open(dir);
    source.append(record(4));
    source.close(false);
    const [written] = files(dir);
    // 253 bytes: <time>-<pid>-<rest>, as rekey's names are, but rest is long; with from<pid>. added it overran NAME_MAX.
    const name = `1-${2 ** 22 + 4321}-${'x'.repeat(253 - 2 - 8 - 8)}.journal`;
    assert.equal(Buffer.byteLength(name), 253);
    renameSync(join(dir, written!), join(dir, name));
    const recovered = PointJournal.recover(dir);
    assert.equal(recovered.records.length, 1);
    const [claimed] = files(dir);
    assert.ok(claimed!.startsWith(`000000000000000-${process.pid}-fromhand.1-`), claimed);
    assert.ok(Buffer.byteLength(claimed!) - String(process.pid).length + 7 <= 255 - 9, `${claimed}: ${Buffer.byteLength(claimed!)} bytes`);
  });

  /**
   * Two live processes recover `dir` at once, each holding on (alive, files not deleted) until
   * both have answered; returns how many records each one read, fewest first.
   */
  const recoverInTwoProcesses = async (): Promise<number[]> => {
    const code = `const { PointJournal } = await import(${JSON.stringify(new URL('./point-journal.ts', import.meta.url).pathname)});
      const recovered = PointJournal.recover(${JSON.stringify(dir)});
      process.stdout.write(recovered.records.length + '\\n');
      process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
    const children = [0, 1].map(() => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const counts = await Promise.all(
      children.map((child) => new Promise<number>((resolve) => child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim()))))),
    );
    await Promise.all(children.map((child) => new Promise((resolve) => (child.on('exit', resolve), child.stdin.end()))));
    return counts.sort((a, b) => a - b);
  };

  it("gives a dead process's records to exactly one of two processes recovering the same directory at once", async () => {
    // Before files were claimed, both read the dead file and both would have delivered its records.
    const deadPid = 2 ** 22 + 12345;
    const written = unsavedJournalFile(
      dir,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    renameSync(join(dir, written), join(dir, written.replace(`-${process.pid}-`, `-${deadPid}-`)));
    const counts = await recoverInTwoProcesses();
    assert.deepEqual(counts, [0, 50], `records recovered by each process: ${counts.join(', ')}`);
  });

  it('gives the records of a file copied in by hand to exactly one of two processes recovering the same directory at once', async () => {
    // Before such files were claimed, both read it where it was and both saved its records.
    const written = unsavedJournalFile(
      dir,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    renameSync(join(dir, written), join(dir, 'my backup copy.journal'));
    const counts = await recoverInTwoProcesses();
    assert.deepEqual(counts, [0, 50], `records recovered by each process: ${counts.join(', ')}`);
    assert.equal(files(dir).length, 1);
    assert.match(files(dir)[0]!, /^0{15}-\d+-fromhand\.my backup copy\.journal$/);
  });

  describe('an entry recovery cannot read stops the start with an error naming it as it is on disk', () => {
    const deadPid = 2 ** 22 + 12345;
    const named = `000000000000001-${deadPid}-abcd1234-000000000.journal`; // a dead process's name: claimed before read, until now
    const unreadableError = (path: string, reason: RegExp) => (error: unknown) => {
      assert.ok(isRekeyError(error, 'JOURNAL_FILE_UNREADABLE'), String(error));
      assert.ok(error.message.includes(`Cannot read the journal file ${path} (`), error.message);
      assert.match(error.message, reason);
      assert.match(error.message, new RegExp(`move it out of ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} to start without it`));
      return true;
    };

    /** Recovers `dir` in a child process (as `uid` when given); its error's code and message, or a timeout. */
    const recoverInChild = async (uid?: number): Promise<{ code?: string; message?: string; hung?: true }> => {
      const code = `const { PointJournal } = await import(${JSON.stringify(new URL('./point-journal.ts', import.meta.url).pathname)});
        try { PointJournal.recover(${JSON.stringify(dir)}); process.stdout.write('{}'); }
        catch (error) { process.stdout.write(JSON.stringify({ code: error.code, message: error.message })); }`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        stdio: ['ignore', 'pipe', 'inherit'],
        ...(uid === undefined ? {} : { uid, gid: uid }),
      });
      let out = '';
      child.stdout.on('data', (data: Buffer) => (out += data.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [exitCode] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      return exitCode === null ? { hung: true } : (JSON.parse(out) as { code?: string; message?: string });
    };

    it('a directory with a journal name (EISDIR), claimable or copied in by hand', () => {
      mkdirSync(join(dir, named));
      assert.throws(() => PointJournal.recover(dir), unreadableError(join(dir, named), /\(EISDIR: a directory, not a regular file\)/));
      assert.deepEqual(files(dir), [named], 'not renamed: the operator finds it under the name in the error');
      rmSync(join(dir, named), { recursive: true });
      mkdirSync(join(dir, 'old copies.journal'));
      assert.throws(() => PointJournal.recover(dir), unreadableError(join(dir, 'old copies.journal'), /EISDIR/));
      assert.deepEqual(files(dir), ['old copies.journal']);
    });

    it('a symlink loop (ELOOP)', () => {
      symlinkSync(named, join(dir, named));
      assert.throws(() => PointJournal.recover(dir), unreadableError(join(dir, named), /\(ELOOP: too many symbolic links encountered\)/));
      assert.deepEqual(files(dir), [named]);
    });

    it('a FIFO, instead of waiting forever for a writer to open it', async () => {
      execFileSync('mkfifo', [join(dir, named)]);
      const result = await recoverInChild();
      assert.equal(result.hung, undefined, 'recovery still waited on the FIFO after 20 s');
      assert.equal(result.code, 'JOURNAL_FILE_UNREADABLE', result.message);
      assert.ok(result.message!.includes(`${join(dir, named)} (a FIFO, not a regular file)`), result.message);
      assert.deepEqual(files(dir), [named]);
    });

    it('a file rekey cannot read (EACCES): as root, recovered by a process running as nobody, since root reads any file', async () => {
      renameSync(join(dir, unsavedJournalFile(dir, [1])), join(dir, named));
      const root = process.getuid?.() === 0;
      if (root)
        chmodSync(dir, 0o755); // nobody may look into the directory, not read the file (0o600, root's)
      else chmodSync(join(dir, named), 0o000);
      const result = await recoverInChild(root ? 65534 : undefined);
      assert.equal(result.code, 'JOURNAL_FILE_UNREADABLE', result.message);
      assert.ok(result.message!.includes(`${join(dir, named)} (EACCES: permission denied)`), result.message);
      assert.deepEqual(files(dir), [named], 'not renamed');
    });

    it('a file that cannot be renamed to claim it (a directory rekey cannot write), named as it still is', async () => {
      renameSync(join(dir, unsavedJournalFile(dir, [1])), join(dir, named));
      const root = process.getuid?.() === 0;
      // Readable by all, writable by its owner only: root, when the test runs as root (then recovered as nobody).
      chmodSync(join(dir, named), 0o644);
      chmodSync(dir, root ? 0o755 : 0o555);
      const result = await recoverInChild(root ? 65534 : undefined);
      chmodSync(dir, 0o755);
      assert.equal(result.code, 'JOURNAL_FILE_UNREADABLE', result.message);
      assert.ok(result.message!.includes(`${join(dir, named)} (EACCES: permission denied, renaming it to claim it)`), result.message);
      assert.deepEqual(files(dir), [named]);
    });
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

  it('appends several records, given whole or in pieces, with one call; recovery reads them one by one, byte for byte', () => {
    const journal = PointJournal.open(dir);
    journal.append(record(1));
    const pieces = [record(2).subarray(0, 4), record(2).subarray(4)];
    journal.appendMany([pieces, record(3), [record(4)]]);
    journal.appendMany([]); // nothing to write: no empty record either
    journal.append(record(5));
    journal.close(false);
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(
      recovered.records.map((r) => [...r]),
      [record(1), record(2), record(3), record(4), record(5)].map((r) => [...r]),
    );
    assert.equal(recovered.dropped, 0);
  });

  it('reads nothing from a directory that does not exist yet', () => {
    assert.deepEqual(PointJournal.recover(join(dir, 'missing')), { records: [], files: [], dropped: 0, droppedBytes: 0, droppedPoints: 0, liveWriters: [] });
  });
});
