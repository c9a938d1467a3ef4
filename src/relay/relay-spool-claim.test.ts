import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';

// Two relay nodes started at once on one spool directory. payloads/ and delivered/ are journals
// whose files are claimed one by one (point-journal.ts): without the spool's recovery lock, the
// node that lost the race for the (large) payload files found them gone at once, then won the
// race for the `delivered` marks while the other still read — and the winner of the payloads,
// with no marks, would send every payload already delivered again (before the lock: 0 and 400).
it('two nodes opening one spool at once deliver each undelivered payload once and never re-send a delivered one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-spool-claim-'));
  try {
    const mod = JSON.stringify(new URL('./relay-spool.ts', import.meta.url).pathname);
    const [M, K] = [600, 400];
    const writer = `const { RelaySpool } = await import(${mod});
      const { spool } = RelaySpool.open(${JSON.stringify(dir)}, { maxBytes: Number.MAX_SAFE_INTEGER });
      const ps = Array.from({ length: ${M} }, (_, i) => ({ id: i.toString(16).padStart(32, '0'), orgId: 'o', kind: 'metrics', path: '/api/v2/series', headers: [], receivedAt: 0, body: Buffer.alloc(100000, i & 255) }));
      await Promise.all(ps.map((p) => spool.accept(p)));
      await Promise.all(ps.slice(0, ${K}).map((p) => spool.done(p)));
      process.exit(0); // dies: nothing closed`;
    const run = (code: string, stdin: 'pipe' | 'ignore') =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: [stdin, 'pipe', 'inherit'] });
    await new Promise((resolve) => run(writer, 'ignore').on('exit', resolve));
    const reader = `const { RelaySpool } = await import(${mod});
      const { recovered } = RelaySpool.open(${JSON.stringify(dir)}, { maxBytes: Number.MAX_SAFE_INTEGER });
      process.stdout.write(recovered.payloads.filter((p) => parseInt(p.id, 16) < ${K}).length + ' ' + recovered.payloads.length + '\\n');
      process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
    const children = [0, 1].map(() => run(reader, 'pipe'));
    const answers = await Promise.all(
      children.map(
        (child) => new Promise<number[]>((resolve) => child.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim().split(' ').map(Number)))),
      ),
    );
    const resent = answers.map(([again]) => again!);
    const recovered = answers.map(([, all]) => all!);
    await Promise.all(children.map((child) => new Promise((resolve) => (child.on('exit', resolve), child.stdin!.end()))));
    assert.deepEqual(resent, [0, 0], `already-delivered payloads each node would send again: ${resent.join(', ')}`);
    assert.deepEqual(
      [...recovered].sort((a, b) => a - b),
      [0, M - K],
      `undelivered payloads recovered by each node: ${recovered.join(', ')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a spool whose recover.lock names a live process is left to it, and recovered once the lock is gone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-spool-lock-'));
  try {
    const { RelaySpool, RECOVER_LOCK_FILE } = await import('./relay-spool.js');
    const writer = RelaySpool.open(dir, { maxBytes: Number.MAX_SAFE_INTEGER }).spool;
    await writer.accept({ id: 'a'.repeat(32), orgId: 'o', kind: 'metrics', path: '/api/v2/series', headers: [], receivedAt: 0, body: Buffer.from('{}') });
    // This process is the writer, so the payload counts as an earlier life's once the lock is gone.
    writeFileSync(join(dir, RECOVER_LOCK_FILE), `${process.ppid}\n`); // the test runner: alive, not this process
    const held = RelaySpool.open(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
    assert.equal(held.recovered.recoveryHeldBy, process.ppid);
    assert.equal(held.recovered.payloads.length, 0);
    rmSync(join(dir, RECOVER_LOCK_FILE));
    const free = RelaySpool.open(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
    assert.equal(free.recovered.recoveryHeldBy, undefined);
    assert.deepEqual(
      free.recovered.payloads.map((p) => p.id),
      ['a'.repeat(32)],
    );
    assert.equal(existsSync(join(dir, RECOVER_LOCK_FILE)), false, 'released after recovery');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('names the spool files it leaves to a running process, with that pid, for the relay to warn about', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-spool-live-'));
  try {
    const { RelaySpool } = await import('./relay-spool.js');
    const writer = RelaySpool.open(dir, { maxBytes: Number.MAX_SAFE_INTEGER }).spool;
    await writer.accept({ id: 'b'.repeat(32), orgId: 'o', kind: 'metrics', path: '/api/v2/series', headers: [], receivedAt: 0, body: Buffer.from('{}') });
    writer.close();
    // The payload file as a live process's (the test runner: alive, not this process — as after a pid reuse).
    const payloads = join(dir, 'payloads');
    const [written] = readdirSync(payloads).filter((name) => name.endsWith('.journal') && statSync(join(payloads, name)).size > 0);
    const live = written!.replace(`-${process.pid}-`, `-${process.ppid}-`);
    renameSync(join(payloads, written!), join(payloads, live));
    const { recovered } = RelaySpool.open(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
    assert.equal(recovered.payloads.length, 0, 'not read');
    assert.deepEqual(recovered.liveWriters, [{ file: join(payloads, live), pid: process.ppid }]);
    assert.ok(existsSync(join(payloads, live)), 'left as it was');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
