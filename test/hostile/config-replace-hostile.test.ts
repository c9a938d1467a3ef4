/**
 * Hostile and careless writers around a config edit (writeFileAtomic with expectedCurrent,
 * commit 8b79dd0: appends to the replaced file within 250 ms are carried over to the new one).
 * Each other writer is a real process that opened the file BEFORE the rename and acts as soon
 * as it sees the rename (its fd's inode is no longer the path's):
 *
 *  - truncating and rewriting the old file in place is not an append: nothing is carried, the
 *    new file is exactly the edit;
 *  - rewriting it in place with more lines after the old content is carried as an append;
 *  - growing it by megabytes is carried whole, once, with no byte twice;
 *  - appending `api_key: OLD` is carried too — the file then names two keys, which
 *    `rekey config validate` refuses (exit 1) and set-api-key will not edit, so the edit is
 *    never silently undone;
 *  - two `rekey config set-api-key` at once: one key wins, one api_key line, nothing else lost,
 *    no temp file left.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/config/atomic-write.js';
import { generateKey } from '../../src/keys/key-format.js';
import { runRekey } from '../support/processes.js';
import { cleanEnv, tempDirs } from '../support/cli.js';

const tempDir = tempDirs('rekey-hostile-config-');

/**
 * The other writer: opens FILE, says "ready", waits until FILE is another inode, then does ACTION
 * with the fd it held: `truncate` (ftruncate 0, write TEXT at 0), `rewrite` (write TEXT at 0),
 * `append` (O_APPEND, write TEXT in 64 KiB pieces). TEXT comes on stdin.
 */
const OTHER_WRITER = `
const fs = require('node:fs');
const [action, file] = process.argv.slice(1);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const text = Buffer.concat(chunks);
  const fd = fs.openSync(file, action === 'append' ? 'a' : 'r+');
  const ino = fs.fstatSync(fd).ino;
  process.stdout.write('ready\\n');
  const started = Date.now();
  while (fs.statSync(file).ino === ino) if (Date.now() - started > 20000) process.exit(3);
  if (action === 'truncate') { fs.ftruncateSync(fd, 0); fs.writeSync(fd, text, 0, text.length, 0); }
  else if (action === 'rewrite') fs.writeSync(fd, text, 0, text.length, 0);
  else for (let at = 0; at < text.length; at += 65536) fs.writeSync(fd, text.subarray(at, Math.min(at + 65536, text.length)));
  fs.closeSync(fd);
});
`;

function startOtherWriter(
  action: 'truncate' | 'rewrite' | 'append',
  file: string,
  text: Buffer,
): { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['-e', OTHER_WRITER, action, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    void exited.then((code) => reject(new Error(`the other writer exited (${code}) before it was ready`)));
  });
  child.stdin!.end(text);
  return { child, ready, exited };
}

const config = (key: string) => `dd_url: http://127.0.0.1:8080\nhostname: web-1\napi_key: ${key}\ntags:\n  - env:prod\n`;

/** Replaces `file` (holding `old`) with `edited` while the other writer does `action` with `text`; returns the file after. */
async function editDuring(action: 'truncate' | 'rewrite' | 'append', old: string, edited: string, text: Buffer): Promise<Buffer> {
  const file = join(tempDir(), 'datadog.yaml');
  writeFileSync(file, old, { mode: 0o600 });
  const other = startOtherWriter(action, file, text);
  await other.ready;
  await writeFileAtomic(file, edited, { expectedCurrent: Buffer.from(old) });
  assert.equal(await other.exited, 0);
  assert.deepEqual(
    readdirSync(join(file, '..')).filter((name) => name.includes('rekey-tmp')),
    [],
    'no temp file left',
  );
  return readFileSync(file);
}

describe('a config edit against hostile writers of the replaced file', () => {
  const oldKey = generateKey('api');
  const newKey = generateKey('api');

  it('a writer that truncates and rewrites the old file in place after the rename: nothing carried, the edit stands', async () => {
    const after = await editDuring('truncate', config(oldKey), config(newKey), Buffer.from(`api_key: ${oldKey}\n`));
    assert.equal(after.toString(), config(newKey));
  });

  it('a writer that rewrites the old file in place with a line more: the line is carried like an append', async () => {
    const after = await editDuring('rewrite', config(oldKey), config(newKey), Buffer.from(`${config(oldKey)}site: datadoghq.eu\n`));
    assert.equal(after.toString(), `${config(newKey)}site: datadoghq.eu\n`);
  });

  it('a writer that grows the old file by 4 MiB after the rename: carried whole and once (best of three, as the 250 ms window is wall time)', async () => {
    const lines: string[] = [];
    for (let i = 0; lines.length * 64 < 4 * 1024 * 1024; i++) lines.push(`# appended line ${String(i).padStart(7, '0')} ${'x'.repeat(38)}\n`); // 64 bytes each
    const appended = Buffer.from(lines.join(''));
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const after = await editDuring('append', config(oldKey), config(newKey), appended);
      assert.equal(after.subarray(0, Buffer.byteLength(config(newKey))).toString(), config(newKey), 'the edit is kept');
      const carried = after.subarray(Buffer.byteLength(config(newKey)));
      // Whatever was carried is a prefix of what was appended: nothing twice, nothing out of order.
      assert.ok(appended.subarray(0, carried.length).equals(carried), `the carried bytes are the appended ones in order (attempt ${attempt})`);
      outcomes.push(`${carried.length}/${appended.length}`);
      if (carried.length === appended.length) {
        assert.equal(createHash('sha256').update(carried).digest('hex'), createHash('sha256').update(appended).digest('hex'));
        return;
      }
    }
    assert.fail(`4 MiB appended after the rename was not carried whole in 3 attempts: ${outcomes.join(', ')} bytes`);
  });

  it('an appender that appends "api_key: OLD" after the rename: carried, and the file is then refused as naming two keys, never silently the old one', async () => {
    const after = await editDuring('append', config(oldKey), config(newKey), Buffer.from(`api_key: ${oldKey}\n`));
    assert.equal(after.toString(), `${config(newKey)}api_key: ${oldKey}\n`);
    const file = join(tempDir(), 'datadog.yaml');
    writeFileSync(file, after, { mode: 0o600 });
    const validate = await runRekey(['config', 'validate', '--file', file], { env: cleanEnv() });
    assert.equal(validate.code, 1, validate.stdout + validate.stderr);
    assert.match(validate.stdout + validate.stderr, /api_key is set again \(first on line 3\)/);
    assert.ok(!(validate.stdout + validate.stderr).includes(oldKey) && !(validate.stdout + validate.stderr).includes(newKey), 'no key printed');
  });

  it('two `rekey config set-api-key` at once on one file: exactly one api_key line, one of the two keys, the rest kept, no temp file', async () => {
    for (let round = 0; round < 4; round++) {
      const dir = tempDir();
      const file = join(dir, 'datadog.yaml');
      writeFileSync(file, config(oldKey), { mode: 0o600 });
      const keys = [generateKey('api'), generateKey('api')];
      const results = await Promise.all(
        keys.map((key) => runRekey(['config', 'set-api-key', '--file', file, '--key-stdin'], { input: `${key}\n`, env: cleanEnv() })),
      );
      for (const result of results) {
        assert.equal(result.code, 0, `round ${round}: ${result.stderr}`);
        for (const key of [...keys, oldKey]) assert.ok(!(result.stdout + result.stderr).includes(key), 'no key printed');
      }
      const after = readFileSync(file, 'utf8');
      const apiKeyLines = after.split('\n').filter((line) => line.startsWith('api_key:'));
      assert.equal(apiKeyLines.length, 1, `round ${round}: ${apiKeyLines.length} api_key lines`);
      const winner = keys.find((key) => apiKeyLines[0] === `api_key: ${key}`);
      assert.ok(winner !== undefined, `round ${round}: the api_key line is one of the two new keys`);
      assert.equal(after, config(winner));
      assert.deepEqual(
        readdirSync(dir).filter((name) => name.includes('rekey-tmp')),
        [],
      );
    }
  });
});
