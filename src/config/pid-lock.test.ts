import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRekeyError } from '../errors.js';
import { tryPidLock } from './pid-lock.js';

/** Above Linux's largest pid_max (2^22): no process has it. */
const DEAD_PID = 2 ** 22 + 4321;

describe('tryPidLock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-pid-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a free lock with its pid in it, and removes it on release', () => {
    const file = join(dir, 'a.lock');
    const lock = tryPidLock(file);
    assert.ok('release' in lock);
    assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`);
    lock.release();
    assert.equal(existsSync(file), false);
    assert.deepEqual(readdirSync(dir), [], 'no temporary file is left behind');
  });

  it('says which live process holds it', () => {
    const file = join(dir, 'a.lock');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(file, `${child.pid}\n`);
      assert.deepEqual(tryPidLock(file), { heldBy: child.pid });
      assert.equal(readFileSync(file, 'utf8'), `${child.pid}\n`, 'a live holder keeps its lock');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a process that no longer runs, and one left empty', () => {
    const file = join(dir, 'a.lock');
    for (const left of [`${DEAD_PID}\n`, '']) {
      writeFileSync(file, left);
      const lock = tryPidLock(file);
      assert.ok('release' in lock, `left: ${JSON.stringify(left)}`);
      assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`);
      lock.release();
    }
  });

  it('takes over a stale lock whose .takeover guard was left naming a live pid that is not taking it over (a pid reused after a reboot)', () => {
    // The guard is held for microseconds; one left by a process killed holding it, whose pid now
    // names an unrelated live process (here: this test's parent), blocked every start for 5 s and
    // then failed it, for as long as that process ran.
    const file = join(dir, 'a.lock');
    writeFileSync(file, `${DEAD_PID}\n`);
    writeFileSync(`${file}.takeover`, `${process.ppid}\n`);
    const started = Date.now();
    const lock = tryPidLock(file);
    assert.ok('release' in lock);
    // It waits GUARD_LEFT_BEHIND_MS (2 s) for a real takeover to end, then removes the guard.
    assert.ok(Date.now() - started < 4_500, `took ${Date.now() - started} ms`);
    assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`);
    lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('stops with LOCK_FILE_UNUSABLE, at once, on a lock or guard that is a directory or a FIFO, and does not hang; a symlink to /dev/zero is stale', () => {
    const file = join(dir, 'a.lock');
    mkdirSync(file);
    assert.throws(
      () => tryPidLock(file),
      (error: unknown) => isRekeyError(error) && error.code === 'LOCK_FILE_UNUSABLE' && error.message.includes('a directory'),
    );
    rmSync(file, { recursive: true });
    writeFileSync(file, `${DEAD_PID}\n`);
    mkdirSync(`${file}.takeover`);
    assert.throws(
      () => tryPidLock(file),
      (error: unknown) => isRekeyError(error) && error.code === 'LOCK_FILE_UNUSABLE' && error.message.includes('.takeover'),
    );
    rmSync(`${file}.takeover`, { recursive: true });
    rmSync(file);
    execFileSync('mkfifo', [file]); // before: readFileSync waited in open() for a writer, forever
    assert.throws(
      () => tryPidLock(file),
      (error: unknown) => isRekeyError(error) && error.code === 'LOCK_FILE_UNUSABLE' && error.message.includes('FIFO'),
    );
    rmSync(file);
    symlinkSync('/dev/zero', file); // before: read until memory ran out
    const lock = tryPidLock(file);
    assert.ok('release' in lock);
    lock.release();
  });

  it('is held by one process at a time when many race for a free lock or a stale one', async () => {
    // Ten processes, asleep until the same instant (so that two run at once, one per core), try
    // round after round. Whoever takes the lock holds it 20 ms, then either releases it or "dies"
    // holding it (the file is left naming a dead pid), so the next round races on a free or a
    // stale lock. Each reports its holds as [from, to]; two holds that overlap in time mean two
    // processes held the lock at once. Before the lock was created whole (link of a file already
    // holding the pid) and a stale one removed only under a guard, 2 runs in 4 had such an overlap.
    const file = join(dir, 'race.lock');
    const rounds = 50;
    const start = Date.now() + 3000;
    const code = `const { tryPidLock } = await import(${JSON.stringify(new URL('./pid-lock.ts', import.meta.url).pathname)});
      const { renameSync, writeFileSync } = await import('node:fs');
      const now = () => performance.timeOrigin + performance.now();
      const holds = [];
      for (let round = 0; round < ${rounds}; round++) {
        const at = ${start} + round * 60;
        const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        if (at > Date.now()) sleep(at - Date.now());
        const lock = tryPidLock(${JSON.stringify(file)});
        if (!('release' in lock)) continue;
        const from = now();
        sleep(20);
        const to = now();
        if (round % 2 === 0) lock.release();
        else { writeFileSync(${JSON.stringify(file)} + '.dying', '${DEAD_PID}\\n'); renameSync(${JSON.stringify(file)} + '.dying', ${JSON.stringify(file)}); }
        holds.push([round, from, to]);
      }
      process.stdout.write(JSON.stringify(holds));`;
    const children = Array.from({ length: 10 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const outputs = await Promise.all(
      children.map(
        (child) =>
          new Promise<string>((resolve, reject) => {
            let out = '';
            child.stdout.on('data', (data: Buffer) => (out += data.toString()));
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`a racer exited with ${code}`))));
          }),
      ),
    );
    const holds = outputs.flatMap((out, child) =>
      (JSON.parse(out) as Array<[number, number, number]>).map(([round, from, to]) => ({ child, round, from, to })),
    );
    holds.sort((a, b) => a.from - b.from);
    const overlaps = holds.slice(1).flatMap((hold, i) => (hold.from < holds[i]!.to ? [[holds[i], hold]] : []));
    assert.deepEqual(overlaps, [], `holds that overlap another: ${JSON.stringify(overlaps)}`);
    // The lock was taken, free and stale, not only refused (on a loaded machine some racers
    // start late and some rounds go by unraced, so not every round counts).
    assert.ok(holds.length >= rounds / 3, `holds: ${JSON.stringify(holds.map((h) => h.round))}`);
  });
});
