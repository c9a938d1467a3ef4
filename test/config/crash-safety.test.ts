/**
 * The writer is killed with SIGKILL at random moments, 200 times, while it rewrites a config
 * file in a loop; after every kill the file must be exactly the old or the new content, with
 * its mode. The writer runs as a real child process from the real source, transpiled once
 * with TypeScript into node_modules/.cache so each start costs milliseconds, not a tsx boot.
 * Its edits skip the late-append watch (`lateAppendWindowMs: 0`) so the kills land in writes
 * and renames, not in the quarter second of watching after each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../support/processes.js';
import { copyFixture, NEW_KEY, OLD_KEY } from './config-corpus.js';

const KILLS = 200;

function transpileWriter(): string {
  const out = join(repoRoot, 'node_modules', '.cache', `rekey-crash-${process.pid}`);
  const sources = [
    ...readdirSync(join(repoRoot, 'src/config'))
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
      .map((name) => `src/config/${name}`),
    'src/errors.ts',
    'src/keys/key-format.ts',
  ];
  for (const source of sources) {
    const { outputText } = ts.transpileModule(readFileSync(join(repoRoot, source), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const target = join(out, source.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  const loop = join(out, 'writer-loop.mjs');
  writeFileSync(
    loop,
    `import { setApiKeyInFile } from './src/config/config-file-editor.js';
const file = process.argv[2];
const keys = [process.env.KEY_A, process.env.KEY_B];
const stopAt = Date.now() + 10_000; // bounded even if nobody kills it
for (let i = 0; Date.now() < stopAt; i++) {
  await setApiKeyInFile(file, keys[i % 2], { backup: false, lateAppendWindowMs: 0 });
  if (i === 0) process.stdout.write('ready\\n');
}
`,
  );
  return loop;
}

function runAndKill(loop: string, file: string, delayMs: number): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loop, file], {
      env: { ...process.env, KEY_A: NEW_KEY, KEY_B: OLD_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), delayMs));
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(guard);
      resolve(signal);
    });
  });
}

const LANES = 4; // children run side by side, each on its own file: node start-up dominates

test(`SIGKILL at ${KILLS} random moments: the file is always the old or the new content, with its mode`, { timeout: 600_000 }, async () => {
  const loop = transpileWriter();
  const seen = { old: 0, new: 0 };
  const lane = async (lane: number) => {
    const file = copyFixture('v5-crlf-bom.conf');
    chmodSync(file, 0o640);
    const oldContent = readFileSync(file);
    const newContent = Buffer.from(oldContent.toString('latin1').replace(OLD_KEY, NEW_KEY), 'latin1');
    assert.notDeepEqual(oldContent, newContent);
    for (let i = 0; i < KILLS / LANES; i++) {
      const signal = await runAndKill(loop, file, Math.random() * 12);
      assert.equal(signal, 'SIGKILL', 'the writer was killed, not finished');
      const now = readFileSync(file);
      if (now.equals(oldContent)) seen.old++;
      else if (now.equals(newContent)) seen.new++;
      else assert.fail(`lane ${lane}, kill ${i + 1}: the file is neither the old nor the new content (${now.length} bytes)`);
      assert.equal(statSync(file).mode & 0o777, 0o640, `lane ${lane}, kill ${i + 1}: mode kept`);
    }
    const leftovers = readdirSync(dirname(file)).filter((name) => name !== 'v5-crlf-bom.conf');
    assert.ok(
      leftovers.every((name) => name.includes('.rekey-tmp-')),
      `only interrupted temp files are left: ${leftovers.join(', ')}`,
    );
    // Each write removes the temp files of writers that were killed before it: only the last kill's can remain.
    assert.ok(leftovers.length <= 1, `stale temp files were cleaned up: ${leftovers.join(', ')}`);
  };
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
  assert.equal(seen.old + seen.new, KILLS);
  // Both outcomes happen, so the kills really landed at different moments of the loop.
  assert.ok(seen.old > 0 && seen.new > 0, JSON.stringify(seen));
  rmSync(dirname(loop), { recursive: true, force: true });
});
