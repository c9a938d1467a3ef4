import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, chmodSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { setApiKeyInFile, restoreBackup } from '../../src/config/config-file-editor.js';
import { loadAgentSettings } from '../../src/config/agent-settings.js';
import { changedRegion, copyFixture, fixtureNames, NEW_KEY, OLD_KEY } from './config-corpus.js';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

test('every fixture: set-api-key changes only the api_key line, byte for byte', async () => {
  const names = fixtureNames().filter((name) => name !== 'v6-secret-handle.yaml');
  assert.ok(names.length >= 18, 'the corpus is there');
  for (const name of names) {
    const file = copyFixture(name);
    chmodSync(file, 0o640);
    const before = readFileSync(file);
    const result = await setApiKeyInFile(file, NEW_KEY);
    const after = readFileSync(file);
    const region = changedRegion(before, after);
    const eolOf = (line: string) => /(\r\n|\n|\r)?$/.exec(line)![0];
    if (result.action === 'replaced') {
      assert.equal(region.removed.length, 1, name);
      assert.equal(region.added.length, 1, name);
      assert.match(region.removed[0]!, /^api_key\s*[:=]/, name);
      const trailing = name === 'v6-trailing-comment.yaml' ? '   # rotated 2026-10-01' : '';
      assert.equal(region.added[0], `api_key: ${NEW_KEY}${trailing}${eolOf(region.removed[0]!)}`, name);
    } else {
      assert.equal(result.action, 'inserted', name);
      const eol = before.includes('\r\n') ? '\r\n' : '\n';
      if (region.removed.length === 0) {
        assert.deepEqual(region.added, [`api_key: ${NEW_KEY}${eol}`], name);
      } else {
        // The file's last line had no newline: it gains one and the new line becomes last.
        assert.deepEqual(region.removed.length, 1, name);
        assert.ok(!/[\r\n]$/.test(region.removed[0]!), name);
        assert.deepEqual(region.added, [region.removed[0]! + eol, `api_key: ${NEW_KEY}`], name);
      }
    }
    assert.equal(before.subarray(0, 3).equals(BOM), after.subarray(0, 3).equals(BOM), `${name}: BOM kept`);
    assert.equal(before.toString().endsWith('\n'), after.toString().endsWith('\n'), `${name}: final newline kept`);
    assert.equal(after.toString('utf8').includes('\r\n'), before.toString('utf8').includes('\r\n'), `${name}: line endings kept`);
    assert.equal(loadAgentSettings({ file, env: {} }).apiKey, NEW_KEY, name);
    assert.equal(statSync(file).mode & 0o777, 0o640, `${name}: mode kept`);
    // The backup holds the old bytes, keeps the mode, and its name carries no key.
    assert.ok(result.backupPath !== null);
    assert.ok(basename(result.backupPath).startsWith(`${name}.rekey-backup-`), result.backupPath);
    for (const key of [NEW_KEY, OLD_KEY]) {
      assert.ok(!result.backupPath.includes(key) && !result.backupPath.includes(key.slice(-4)), 'no key in the backup name');
    }
    assert.deepEqual(readFileSync(result.backupPath), before);
    assert.equal(statSync(result.backupPath).mode & 0o777, 0o640);
    assert.ok(!result.diff.includes(NEW_KEY) && !result.diff.includes(OLD_KEY), 'diff masks keys');
    // No temp files left behind.
    assert.deepEqual(
      readdirSync(dirname(file)).filter((f) => f.includes('rekey-tmp')),
      [],
    );
    await restoreBackup(file, result.backupPath);
    assert.deepEqual(readFileSync(file), before, `${name}: rollback restores the bytes`);
  }
});

test('expected placement: replaced in place, after a commented-out key, after [Main], after ---', async () => {
  const cases: Array<[string, string, number]> = [
    ['v5-datadog.conf', 'replaced', 13],
    ['v5-commented-key.conf', 'inserted', 14],
    ['v5-missing-key.conf', 'inserted', 2],
    ['v5-main-only-no-newline.conf', 'inserted', 3],
    ['v5-equals-and-inline-comment.conf', 'replaced', 2],
    ['v6-datadog.yaml', 'replaced', 10],
    ['v6-commented-key.yaml', 'inserted', 11],
    ['v6-missing-key.yaml', 'inserted', 1],
    ['v6-document-marker.yaml', 'inserted', 3],
  ];
  for (const [name, action, line] of cases) {
    const file = copyFixture(name);
    const result = await setApiKeyInFile(file, NEW_KEY, { backup: false });
    assert.equal(result.action, action, name);
    const lines = readFileSync(file, 'utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/);
    assert.equal(lines[line - 1], `api_key: ${NEW_KEY}`, `${name}: line ${line}`);
    if (name.startsWith('v5-')) {
      assert.equal(lines.indexOf('[Main]') < line - 1, true, `${name}: inside [Main]`);
    }
  }
});

test('setting the same key again changes nothing and makes no backup', async () => {
  const file = copyFixture('v6-datadog.yaml');
  const result = await setApiKeyInFile(file, OLD_KEY);
  assert.equal(result.changed, false);
  assert.equal(result.backupPath, null);
  assert.deepEqual(readdirSync(dirname(file)), ['v6-datadog.yaml']);
});

test('--dry-run: a masked diff, nothing written, no backup', async () => {
  const file = copyFixture('v5-crlf-bom.conf');
  const before = readFileSync(file);
  const result = await setApiKeyInFile(file, NEW_KEY, { dryRun: true });
  assert.deepEqual(readFileSync(file), before);
  assert.equal(result.backupPath, null);
  assert.deepEqual(readdirSync(dirname(file)), ['v5-crlf-bom.conf']);
  assert.match(result.diff, /^-api_key: •+c7cd$/m);
  assert.match(result.diff, /^\+api_key: •+c58f$/m);
  assert.ok(!result.diff.includes(NEW_KEY) && !result.diff.includes(OLD_KEY));
});
