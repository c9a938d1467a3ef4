import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileChangedError, writeFileAtomic } from './atomic-write.js';

describe('writeFileAtomic', () => {
  it('removes the temp files that killed writers of the same file left, and only those', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-atomic-'));
    try {
      const file = join(dir, 'datadog.yaml');
      writeFileSync(file, 'api_key: old\n', { mode: 0o600 });
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid is free
      const stale = `.datadog.yaml.rekey-tmp-${deadPid}-0badc0de`;
      const inProgress = `.datadog.yaml.rekey-tmp-${process.pid}-0badc0de`; // a live writer
      const otherFile = `.datadog.conf.rekey-tmp-${deadPid}-0badc0de`; // another file's: not ours to judge
      const unrelated = '.datadog.yaml.rekey-tmp-notes';
      for (const name of [stale, inProgress, otherFile, unrelated]) writeFileSync(join(dir, name), 'api_key: 0123\n');

      await writeFileAtomic(file, Buffer.from('api_key: new\n'));

      assert.equal(readFileSync(file, 'utf8'), 'api_key: new\n');
      assert.deepEqual(readdirSync(dir).sort(), [otherFile, unrelated, inProgress, 'datadog.yaml'].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries over what a writer that opened the file before the rename appends within the window, and only appends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-late-append-'));
    try {
      const file = join(dir, 'datadog.yaml');
      const old = Buffer.from('api_key: old\n');
      const editAndAppendLate = async (windowMs: number | undefined, late: string) => {
        writeFileSync(file, old);
        const appender = openSync(file, 'a'); // opened before the rename, as `>>` a moment earlier
        const writing = writeFileAtomic(file, 'api_key: new\n', { expectedCurrent: old, lateAppendWindowMs: windowMs });
        // Wait for the rename (the path names another file than the appender's), as a descheduled appender would.
        while (statSync(file).ino === fstatSync(appender).ino) await new Promise((resolve) => setTimeout(resolve, 1));
        writeSync(appender, late);
        closeSync(appender);
        await writing;
        return readFileSync(file, 'utf8');
      };
      assert.equal(await editAndAppendLate(undefined, '# late\n'), 'api_key: new\n# late\n');
      assert.equal(await editAndAppendLate(0, '# late\n'), 'api_key: new\n', 'window 0: checked at the rename only');
      // A change that is not an append to what was read is refused before the rename.
      writeFileSync(file, 'api_key: other\n');
      await assert.rejects(writeFileAtomic(file, 'api_key: new\n', { expectedCurrent: old }), FileChangedError);
      assert.equal(readFileSync(file, 'utf8'), 'api_key: other\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
