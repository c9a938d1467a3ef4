/**
 * The pid file is the agent's lock on its run path (src/agent/pid-file.ts): agents started at
 * the very same moment get it exactly once, and every other one is refused with a message
 * naming the holder and the run path. A pid file left by a dead agent is taken over.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PidFile, pidFilePath, readPid } from '../../src/agent/pid-file.js';
import { repoRoot } from '../support/processes.js';

const CONTENDER = `${repoRoot}test/agent/support/pid-file-contender.ts`;

interface Contender {
  child: ChildProcess;
  answer: Promise<string>;
}

/** Starts a contender and resolves once it is loaded and waiting for the starting gun. */
function startContender(runPath: string): Promise<Contender> {
  const child = spawn(process.execPath, ['--import', 'tsx', CONTENDER, runPath, 'rekey-agent'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      waiters.push(resolve);
      child.once('exit', (code) => reject(new Error(`contender exited (${code})`)));
    });
  return nextLine().then((ready) => {
    assert.equal(ready, 'ready');
    return { child, answer: nextLine() };
  });
}

test('of agents starting at the same moment, exactly one gets the pid file; the others are told who has it', { timeout: 60_000 }, async (t) => {
  const runPath = await mkdtemp(join(tmpdir(), 'rekey-pid-race-'));
  const contenders: Contender[] = [];
  t.after(async () => {
    for (const c of contenders) c.child.stdin!.end();
    await rm(runPath, { recursive: true, force: true });
  });
  contenders.push(...(await Promise.all(Array.from({ length: 6 }, () => startContender(runPath)))));
  // Every process loaded and waiting: the starting gun for all of them at once.
  for (const c of contenders) c.child.stdin!.write('go\n');
  const answers = await Promise.all(contenders.map((c) => c.answer));
  const winners = contenders.filter((_, i) => answers[i] === 'acquired');
  assert.equal(winners.length, 1, answers.join('\n'));
  const holder = winners[0]!.child.pid!;
  assert.equal(readPid(pidFilePath(runPath)), holder);
  for (const answer of answers.filter((a) => a !== 'acquired')) {
    assert.equal(answer, `refused: A rekey-agent (pid ${holder}) already uses the run path ${runPath}; stop it first or give another --run-path`);
  }
});

test('a pid file left by a dead process is taken over', async (t) => {
  const runPath = await mkdtemp(join(tmpdir(), 'rekey-pid-stale-'));
  t.after(() => rm(runPath, { recursive: true, force: true }));
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => dead.on('exit', resolve));
  await writeFile(pidFilePath(runPath), `${dead.pid}\n`);
  const pidFile = await PidFile.acquire(runPath);
  assert.equal(readPid(pidFilePath(runPath)), process.pid);
  await pidFile.release();
  assert.equal(readPid(pidFilePath(runPath)), null);
});
