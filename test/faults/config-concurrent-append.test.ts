/**
 * `rekey config set-api-key` while another process appends to the same file in place (as a
 * configuration-management run or `echo … >> datadog.yaml` would): the change check runs
 * immediately before the rename and, on a change, the edit is re-read and re-applied, so no
 * appended line is lost. A process that rewrites the file without pause makes the edit give
 * up after EDIT_ATTEMPTS with CONFIG_WRITE_FAILED, and the file holds what that process wrote.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRekeyError } from '../../src/errors.js';
import { EDIT_ATTEMPTS, setApiKeyInFile } from '../../src/config/config-file-editor.js';
import { generateKey } from '../../src/keys/key-format.js';

/** A plain node child (no tsx) running `source` with the file path as argv[1]; prints its count on SIGTERM. */
function startWriter(source: string, file: string): { child: ChildProcess; ready: Promise<void>; stop(): Promise<number> } {
  const child = spawn(process.execPath, ['-e', source, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    ready,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const match = /done (\d+)/.exec(out);
      assert.ok(match, `the writer reported its count: ${out}`);
      return Number(match[1]);
    },
  };
}

// Appends "# appended N" lines (YAML comments), one open/append/close each (what `>>` does), one every 20–100 ms.
const APPENDER = `
const fs = require('node:fs');
const file = process.argv[1];
let n = 0, stop = false;
process.on('SIGTERM', () => (stop = true));
process.stdout.write('ready\\n');
(function next() {
  if (stop) { process.stdout.write('done ' + n + '\\n'); process.exit(0); }
  fs.appendFileSync(file, '# appended ' + n++ + '\\n');
  setTimeout(next, 20 + Math.random() * 80);
})();
`;

// Rewrites the whole file (a new temp file renamed over it) without pause.
const REWRITER = `
const fs = require('node:fs');
const file = process.argv[1];
let n = 0, stop = false;
process.on('SIGTERM', () => (stop = true));
process.stdout.write('ready\\n');
(function loop() {
  const end = Date.now() + 5;
  while (Date.now() < end) { fs.writeFileSync(file + '.w', 'api_key: ${'0'.repeat(32)}\\nhostname: rewrite-' + n++ + '\\n'); fs.renameSync(file + '.w', file); }
  if (stop) { process.stdout.write('done ' + n + '\\n'); process.exit(0); }
  setImmediate(loop);
})();
`;

describe('config tool: another process writes the file during set-api-key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-config-race-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loses no line appended while edits (40 or more, for 3 s) replace the file', { timeout: 60_000 }, async () => {
    const file = join(dir, 'datadog.yaml');
    writeFileSync(file, 'api_key: ' + generateKey('api') + '\nhostname: web-1\n', { mode: 0o600 });
    const appender = startWriter(APPENDER, file);
    await appender.ready;
    const keys: string[] = [];
    try {
      // At least 40 edits, and for at least 3 s: the appender (one line every 20–100 ms) must
      // have appended many lines during the edits however fast this machine edits.
      // On a loaded machine an edit can see a new line before every one of its EDIT_ATTEMPTS
      // renames and give up (CONFIG_WRITE_FAILED, the file left as the appender left it): the
      // documented answer to a file that keeps changing. Such an edit is run again, as its
      // message tells the user; the lines must survive either way.
      const started = Date.now();
      let gaveUp = 0;
      for (let i = 0; keys.length < 40 || (Date.now() - started < 3000 && i < 5000); i++) {
        const key = generateKey('api');
        try {
          const result = await setApiKeyInFile(file, key, { backup: i % 2 === 0 });
          assert.equal(result.changed, true);
          keys.push(key);
          if (result.backupPath !== null) rmSync(result.backupPath);
        } catch (error) {
          if (!isRekeyError(error, 'CONFIG_WRITE_FAILED') || ++gaveUp > 200) throw error;
        }
      }
      process.stdout.write(`# ${keys.length} edits, ${gaveUp} gave up after ${EDIT_ATTEMPTS} attempts and were run again\n`);
    } finally {
      appender.child.kill('SIGTERM');
    }
    const appended = await appender.stop();
    const text = readFileSync(file, 'utf8');
    const lines = new Set(text.split('\n'));
    const lost = Array.from({ length: appended }, (_, n) => `# appended ${n}`).filter((line) => !lines.has(line));
    assert.ok(appended > 10, `the appender appended during the edits (${appended} lines)`);
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${appended} appended lines lost`);
    assert.match(text, new RegExp(`^api_key: ${keys.at(-1)}$`, 'm'), 'the last edit is in the file');
    assert.deepEqual(
      readdirSync(dir).filter((name) => name !== 'datadog.yaml'),
      [],
      'no temp file or stale backup left',
    );
  });

  it("gives up after EDIT_ATTEMPTS when the file changes before every rename, leaving the other writer's content", { timeout: 60_000 }, async () => {
    const file = join(dir, 'rewritten.yaml');
    writeFileSync(file, 'api_key: ' + generateKey('api') + '\nhostname: web-1\n', { mode: 0o600 });
    const rewriter = startWriter(REWRITER, file);
    await rewriter.ready;
    const key = generateKey('api');
    let failure: unknown;
    // Each try re-reads and re-applies up to EDIT_ATTEMPTS times; one of these fails with near certainty.
    try {
      for (let i = 0; i < 20 && failure === undefined; i++) {
        await setApiKeyInFile(file, key, { backup: false }).catch((error: unknown) => (failure = error));
      }
    } finally {
      rewriter.child.kill('SIGTERM');
    }
    await rewriter.stop();
    assert.ok(isRekeyError(failure, 'CONFIG_WRITE_FAILED'), `refused: ${String(failure)}`);
    assert.match((failure as Error).message, new RegExp(`another program changed it each time rekey was about to replace it \\(${EDIT_ATTEMPTS} attempts\\)`));
    assert.doesNotMatch((failure as Error).message, new RegExp(key));
    assert.match(readFileSync(file, 'utf8'), /^hostname: rewrite-\d+$/m, "the file holds the other writer's content");
  });
});
