import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setApiKeyInFile } from '../../src/config/config-file-editor.js';
import { isRekeyError } from '../../src/errors.js';
import { copyFixture, NEW_KEY } from './config-corpus.js';

const isRoot = process.getuid?.() === 0;

test('the new file and its backup keep the owner and mode of the old one', { skip: isRoot ? false : 'chown to another user needs root' }, async () => {
  const file = copyFixture('v6-datadog.yaml');
  chownSync(file, 4321, 4322);
  chmodSync(file, 0o640);
  const result = await setApiKeyInFile(file, NEW_KEY);
  for (const path of [file, result.backupPath!]) {
    const stat = statSync(path);
    assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o7777], [4321, 4322, 0o640], path);
  }
});

test('a symlinked config is edited where it lives; the link stays a link', async () => {
  const real = copyFixture('v5-datadog.conf');
  const link = join(dirname(real), 'datadog-link.conf');
  symlinkSync(real, link);
  const result = await setApiKeyInFile(link, NEW_KEY);
  assert.equal(result.file, real);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.match(readFileSync(real, 'utf8'), new RegExp(`^api_key: ${NEW_KEY}$`, 'm'));
  assert.ok(result.backupPath!.startsWith(`${real}.rekey-backup-`));
});

test('a file that is not UTF-8 is refused, untouched', async () => {
  const file = copyFixture('v5-datadog.conf');
  const { writeFileSync } = await import('node:fs');
  const bytes = Buffer.concat([readFileSync(file), Buffer.from('# caf\xe9\n', 'latin1')]);
  writeFileSync(file, bytes);
  await assert.rejects(
    () => setApiKeyInFile(file, NEW_KEY),
    (e: unknown) => isRekeyError(e, 'CONFIG_EDIT_REFUSED') && /not UTF-8/.test(e.message),
  );
  assert.deepEqual(readFileSync(file), bytes);
});
