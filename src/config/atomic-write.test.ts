import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from './atomic-write.js';

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
});
