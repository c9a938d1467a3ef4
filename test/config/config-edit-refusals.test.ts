import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { addEndpointKeyInFile, removeEndpointKeyInFile, setApiKeyInFile } from '../../src/config/config-file-editor.js';
import { loadAgentSettings } from '../../src/config/agent-settings.js';
import { isRekeyError, type ErrorCode } from '../../src/errors.js';
import { changedRegion, copyFixture, NEW_KEY, OLD_KEY, OTHER_KEY } from './config-corpus.js';

function tempConfig(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rekey-refuse-')), name);
  writeFileSync(file, content);
  return file;
}

async function assertRefused(file: string, action: () => Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  const before = readFileSync(file);
  await assert.rejects(action, (error: unknown) => {
    assert.ok(isRekeyError(error, code), `${code} expected, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, pattern);
    for (const key of [NEW_KEY, OLD_KEY]) assert.ok(!error.message.includes(key), 'no key in the message');
    return true;
  });
  assert.deepEqual(readFileSync(file), before, 'file untouched');
  assert.deepEqual(readdirSync(dirname(file)).length, 1, 'no backup, no temp file');
}

test("malformed keys are refused with parseKey's message", async () => {
  const file = copyFixture('v6-datadog.yaml');
  await assertRefused(file, () => setApiKeyInFile(file, `"${NEW_KEY}"`), 'MALFORMED_KEY', /quotes/);
  await assertRefused(file, () => setApiKeyInFile(file, NEW_KEY.slice(1)), 'MALFORMED_KEY', /31 characters/);
  await assertRefused(file, () => setApiKeyInFile(file, NEW_KEY.toUpperCase()), 'MALFORMED_KEY', /uppercase/);
  await assertRefused(file, () => setApiKeyInFile(file, `${NEW_KEY.slice(0, -1)}0`), 'MALFORMED_KEY', /checksum/);
  await assertRefused(file, () => setApiKeyInFile(file, 'ENC[my_key]'), 'MALFORMED_KEY', /secret handle/);
});

test('a key issued by Datadog itself (no rekey checksum) is accepted only with checksum: false, and still shape-checked', async () => {
  const datadogKey = `${NEW_KEY.slice(0, -1)}${NEW_KEY.endsWith('0') ? '1' : '0'}`; // right shape, wrong checksum
  const file = copyFixture('v6-datadog.yaml');
  await assertRefused(file, () => setApiKeyInFile(file, datadogKey), 'MALFORMED_KEY', /checksum/);
  await assertRefused(file, () => setApiKeyInFile(file, datadogKey.toUpperCase(), { checksum: false }), 'MALFORMED_KEY', /uppercase/);
  await assertRefused(file, () => setApiKeyInFile(file, `"${datadogKey}"`, { checksum: false }), 'MALFORMED_KEY', /quotes/);
  const result = await setApiKeyInFile(file, datadogKey, { checksum: false });
  assert.equal(result.action, 'replaced');
  assert.equal(loadAgentSettings({ file, env: {} }).apiKey, datadogKey);
});

test('a secret handle in the file is kept unless --force', async () => {
  const file = copyFixture('v6-secret-handle.yaml');
  await assertRefused(file, () => setApiKeyInFile(file, NEW_KEY), 'CONFIG_SECRET_HANDLE', /line 1: .*--force/);
  const result = await setApiKeyInFile(file, NEW_KEY, { force: true });
  assert.equal(result.action, 'replaced');
  assert.equal(loadAgentSettings({ file, env: {} }).apiKey, NEW_KEY);
});

test('files that are not Datadog configs, or cannot be edited on one line, are refused', async () => {
  const cases: Array<[string, string, ErrorCode, RegExp]> = [
    ['compose.yaml', 'services:\n  web:\n    image: nginx\n', 'CONFIG_NOT_DATADOG', /does not look like a Datadog Agent config/],
    ['empty.yaml', '', 'CONFIG_NOT_DATADOG', /empty/],
    ['other.ini', '[server]\nport = 80\n', 'CONFIG_NOT_DATADOG', /INI file without a \[Main\]/],
    ['bad.yaml', 'site: x\napi_key: a: b\n', 'CONFIG_LINE_INVALID', /line 2: not valid YAML/],
    ['dup.conf', `[Main]\napi_key: ${OLD_KEY}\napi_key: ${OLD_KEY}\n`, 'CONFIG_EDIT_REFUSED', /set 2 times \(lines 2, 3\)/],
    ['two-mains.conf', '[Main]\nsite: a\n[Main]\nhostname: b\n', 'CONFIG_EDIT_REFUSED', /\[Main\] appears twice/],
    ['block.yaml', 'site: x\napi_key: |\n  abc\n', 'CONFIG_EDIT_REFUSED', /not a single value|several lines/],
    ['flow.yaml', '{api_key: abc, site: x}\n', 'CONFIG_EDIT_REFUSED', /flow mapping/],
    ['cont.conf', `[Main]\napi_key: ${OLD_KEY}\n  more\n`, 'CONFIG_EDIT_REFUSED', /continues on line 3/],
    ['garbage.conf', '[Main]\nthis line is not a setting\n', 'CONFIG_LINE_INVALID', /line 2/],
  ];
  for (const [name, content, code, pattern] of cases) {
    const file = tempConfig(name, content);
    await assertRefused(file, () => setApiKeyInFile(file, NEW_KEY), code, pattern);
  }
  await assert.rejects(
    () => setApiKeyInFile('/nonexistent/datadog.yaml', NEW_KEY),
    (e: unknown) => isRekeyError(e, 'CONFIG_UNREADABLE'),
  );
});

test('--add-endpoint-key adds the new key beside the old one; --remove-key takes it away again', async () => {
  for (const name of ['v6-datadog.yaml', 'v5-datadog.conf', 'v6-crlf-bom.yaml', 'v5-crlf-bom.conf', 'v6-no-final-newline.yaml']) {
    const file = copyFixture(name);
    const original = readFileSync(file);
    const added = await addEndpointKeyInFile(file, 'https://intake.rekey.internal', NEW_KEY);
    assert.ok(added.changed && added.backupPath);
    let settings = loadAgentSettings({ file, env: {} });
    assert.equal(settings.apiKey, name === 'v6-no-final-newline.yaml' ? OLD_KEY : OLD_KEY, name);
    assert.deepEqual(settings.additionalEndpoints, { 'https://intake.rekey.internal': [NEW_KEY] }, name);
    const region = changedRegion(original, readFileSync(file));
    assert.ok(
      region.added.every((line) => /additional_endpoints|rekey\.internal|- aaaa|api_key/.test(line)),
      `${name}: only the endpoints block added`,
    );
    await addEndpointKeyInFile(file, 'https://intake.rekey.internal', OTHER_KEY);
    settings = loadAgentSettings({ file, env: {} });
    assert.deepEqual(settings.additionalEndpoints, { 'https://intake.rekey.internal': [NEW_KEY, OTHER_KEY] }, name);
    await removeEndpointKeyInFile(file, OTHER_KEY);
    await removeEndpointKeyInFile(file, NEW_KEY);
    assert.deepEqual(readFileSync(file), original, `${name}: add then remove restores every byte`);
    await assertRefused(copyFixture(name), () => removeEndpointKeyInFile(file, NEW_KEY), 'CONFIG_EDIT_REFUSED', /no key ending in c58f is listed/);
  }
});

test('--remove-key keeps comments around additional_endpoints and refuses the main key', async () => {
  const file = copyFixture('v6-additional-endpoints.yaml');
  await assertRefused(file, () => removeEndpointKeyInFile(file, OLD_KEY), 'CONFIG_EDIT_REFUSED', /is the main api_key/);
  const before = readFileSync(file);
  await removeEndpointKeyInFile(file, NEW_KEY);
  const region = changedRegion(before, readFileSync(file));
  assert.deepEqual(region.removed, ['  "https://app.datadoghq.com":\n', `  - ${NEW_KEY}\n`]);
  assert.deepEqual(region.added, []);
  assert.deepEqual(loadAgentSettings({ file, env: {} }).additionalEndpoints, { 'https://intake.rekey.internal': [OTHER_KEY] });
});
