/**
 * The real `rekey` CLI (spawned from source) on real files: keys go in through stdin or env
 * only and never come out on stdout/stderr (without --reveal) or in a backup's name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runRekey, type RunResult } from '../support/processes.js';
import { changedRegion, copyFixture, NEW_KEY, OLD_KEY, OTHER_KEY } from './config-corpus.js';

function assertNoKey(result: RunResult, keys: string[] = [NEW_KEY, OLD_KEY, OTHER_KEY]): void {
  for (const key of keys) {
    assert.ok(!result.stdout.includes(key), `stdout must not contain a key:\n${result.stdout}`);
    assert.ok(!result.stderr.includes(key), `stderr must not contain a key:\n${result.stderr}`);
  }
}

test('set-api-key --key-stdin: one line changed, backup without the key in its name, key never printed', async () => {
  const file = copyFixture('v5-crlf-bom.conf');
  chmodSync(file, 0o640);
  const before = readFileSync(file);
  const args = ['config', 'set-api-key', '--file', file, '--key-stdin'];
  const result = await runRekey(args, { input: `${NEW_KEY}\n` });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!args.join(' ').includes(NEW_KEY));
  assertNoKey(result);
  assert.match(result.stdout, /ending in c58f \(line 13\)/);
  const region = changedRegion(before, readFileSync(file));
  assert.deepEqual(region.removed, [`api_key: ${OLD_KEY}\r\n`]);
  assert.deepEqual(region.added, [`api_key: ${NEW_KEY}\r\n`]);
  const backups = readdirSync(dirname(file)).filter((name) => name.includes('rekey-backup'));
  assert.equal(backups.length, 1);
  assert.match(backups[0]!, /^v5-crlf-bom\.conf\.rekey-backup-\d{8}T\d{9}Z$/);
  assert.match(result.stdout, new RegExp(backups[0]!.replace(/\./g, '\\.')));
  assert.deepEqual(readFileSync(join(dirname(file), backups[0]!)), before);

  const show = await runRekey(['config', 'show', '--file', file, '--json'], { env: { ...process.env, DD_API_KEY: '' } });
  assert.equal(show.code, 0, show.stderr);
  assertNoKey(show);
  const report = JSON.parse(show.stdout);
  assert.equal(report.apiKey.source, 'file');
  assert.equal(report.apiKey.last4, 'c58f');
  assert.equal(report.apiKey.line, 13);
  assert.equal(report.intakeUrl, 'https://app.datadoghq.com');
  assert.equal(report.hostname, 'web-01.example.com');
  assert.deepEqual(report.problems, []);
});

test('set-api-key --no-checksum takes a Datadog-issued key the default refuses', async () => {
  const datadogKey = `${NEW_KEY.slice(0, -1)}${NEW_KEY.endsWith('0') ? '1' : '0'}`; // right shape, no rekey checksum
  const file = copyFixture('v6-datadog.yaml');
  const before = readFileSync(file);
  const refused = await runRekey(['config', 'set-api-key', '--file', file, '--key-stdin'], { input: datadogKey });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /checksum/);
  assert.ok(!refused.stderr.includes(datadogKey) && !refused.stdout.includes(datadogKey));
  assert.deepEqual(readFileSync(file), before);
  const accepted = await runRekey(['config', 'set-api-key', '--file', file, '--key-stdin', '--no-checksum'], { input: datadogKey });
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.ok(!accepted.stdout.includes(datadogKey));
  assert.match(readFileSync(file, 'utf8'), new RegExp(`^api_key: ${datadogKey}$`, 'm'));
});

test('set-api-key --key-env --dry-run: masked diff, file untouched', async () => {
  const file = copyFixture('v6-commented-key.yaml');
  const before = readFileSync(file);
  const result = await runRekey(['config', 'set-api-key', '--file', file, '--key-env', 'NEW_DD_KEY', '--dry-run'], {
    env: { ...process.env, NEW_DD_KEY: NEW_KEY },
  });
  assert.equal(result.code, 0, result.stderr);
  assertNoKey(result);
  assert.match(result.stdout, /^@@ -11,0 \+11,1 @@$/m);
  assert.match(result.stdout, /^\+api_key: •+c58f$/m);
  assert.match(result.stdout, /nothing written/);
  assert.deepEqual(readFileSync(file), before);
  assert.deepEqual(readdirSync(dirname(file)), ['v6-commented-key.yaml']);
});

test('refusals exit 2 and leave the file untouched, without echoing the key', async () => {
  const secret = copyFixture('v6-secret-handle.yaml');
  const cases: Array<{ file: string; args: string[]; input?: string; pattern: RegExp }> = [
    { file: copyFixture('v6-datadog.yaml'), args: ['--key-stdin'], input: `"${NEW_KEY}"\n`, pattern: /surrounded by quotes/ },
    { file: copyFixture('v6-datadog.yaml'), args: ['--key-stdin'], input: `${NEW_KEY.slice(0, 31)}0\n`, pattern: /checksum/ },
    { file: copyFixture('v5-datadog.conf'), args: ['--key-stdin'], input: `${NEW_KEY.slice(2)}\n`, pattern: /30 characters/ },
    { file: secret, args: ['--key-stdin'], input: NEW_KEY, pattern: /secret handle .*--force/ },
    { file: copyFixture('v6-datadog.yaml'), args: [], pattern: /--key-stdin or --key-env/ },
    { file: copyFixture('v6-datadog.yaml'), args: ['--key-env', 'NOT_SET_ANYWHERE'], pattern: /NOT_SET_ANYWHERE .* not set/ },
    // A key given as an argument is refused before anything happens.
    { file: copyFixture('v6-datadog.yaml'), args: [NEW_KEY], pattern: /./ },
  ];
  const notDatadog = join(dirname(copyFixture('v6-datadog.yaml')), 'docker-compose.yaml');
  writeFileSync(notDatadog, 'services:\n  web:\n    image: nginx\n');
  cases.push({ file: notDatadog, args: ['--key-stdin'], input: NEW_KEY, pattern: /does not look like a Datadog Agent config/ });
  for (const { file, args, input, pattern } of cases) {
    const before = readFileSync(file);
    const entries = readdirSync(dirname(file));
    const result = await runRekey(['config', 'set-api-key', '--file', file, ...args], { input });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    if (!args.includes(NEW_KEY)) assertNoKey(result);
    assert.equal(result.stderr.split('\n').filter(Boolean).length <= 2, true, 'short message, no stack');
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(readdirSync(dirname(file)), entries);
  }
  const forced = await runRekey(['config', 'set-api-key', '--file', secret, '--key-stdin', '--force'], { input: NEW_KEY });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(readFileSync(secret, 'utf8'), new RegExp(`^api_key: ${NEW_KEY}\n`));
});

test('overlap: --add-endpoint-key then --remove-key, through the CLI', async () => {
  const file = copyFixture('v6-datadog.yaml');
  const original = readFileSync(file);
  const add = await runRekey(['config', 'set-api-key', '--file', file, '--key-stdin', '--add-endpoint-key', 'https://intake.rekey.internal'], {
    input: NEW_KEY,
  });
  assert.equal(add.code, 0, add.stderr);
  assertNoKey(add);
  const show = JSON.parse((await runRekey(['config', 'show', '--file', file, '--json'])).stdout);
  assert.equal(show.apiKey.last4, 'c7cd', 'the old key is still the main key');
  assert.deepEqual(show.additionalEndpoints, { 'https://intake.rekey.internal': [`${'•'.repeat(28)}c58f`] });
  // End of the overlap: the new key becomes api_key, then leaves additional_endpoints.
  const set = await runRekey(['config', 'set-api-key', '--file', file, '--key-stdin', '--no-backup'], { input: NEW_KEY });
  assert.equal(set.code, 0, set.stderr);
  assertNoKey(set);
  assert.match(set.stdout, /note: this key is also under additional_endpoints for https:\/\/intake\.rekey\.internal/);
  const remove = await runRekey(['config', 'set-api-key', '--file', file, '--key-env', 'K', '--remove-key', '--no-backup'], {
    env: { ...process.env, K: NEW_KEY },
  });
  assert.equal(remove.code, 0, remove.stderr);
  const region = changedRegion(original, readFileSync(file));
  assert.deepEqual(region.removed, [`api_key: ${OLD_KEY}\n`]);
  assert.deepEqual(region.added, [`api_key: ${NEW_KEY}\n`]);
});

test('show: DD_API_KEY overrides the file and says so; a secret handle is named', async () => {
  const file = copyFixture('v6-datadog.yaml');
  chmodSync(file, 0o600);
  const result = await runRekey(['config', 'show', '--file', file], { env: { ...process.env, DD_API_KEY: NEW_KEY, DD_DD_URL: 'https://intake.example' } });
  assert.equal(result.code, 0, result.stderr);
  assertNoKey(result);
  assert.match(result.stdout, /api key: +•+c58f {2}from DD_API_KEY \(overrides the api_key in the file\)/);
  assert.match(result.stdout, /intake URL: +https:\/\/intake\.example/);
  assert.match(result.stdout, /problems: none/);
  const handle = await runRekey(['config', 'show', '--file', copyFixture('v6-secret-handle.yaml'), '--json'], { env: { ...process.env, DD_API_KEY: '' } });
  const report = JSON.parse(handle.stdout);
  assert.equal(report.apiKey.source, 'secret_handle');
  assert.equal(report.apiKey.secretHandle, 'ENC[datadog_api_key]');
  assert.equal(report.apiKey.last4, null);
});

test('validate: exit 1 with each problem, its line and its fix; exit 0 when clean', async () => {
  const file = join(dirname(copyFixture('v5-datadog.conf')), 'broken.conf');
  writeFileSync(file, `[Main]\napi_key: "${OLD_KEY}"\napi_key:\t${OLD_KEY}\n\n[WMI]\napi_key: youshouldsetthis\n`);
  chmodSync(file, 0o644);
  const result = await runRekey(['config', 'validate', '--file', file]);
  assert.equal(result.code, 1, result.stderr);
  assertNoKey(result);
  assert.match(result.stdout, /line 2: api_key is surrounded by quotes\n {4}fix: remove the quotes/);
  assert.match(result.stdout, /line 3: the api_key line contains a tab/);
  assert.match(result.stdout, /line 3: api_key is set again \(first on line 2\)/);
  assert.match(result.stdout, /line 6: api_key is in \[WMI\]; the Agent reads it only from \[Main\]/);
  assert.match(result.stdout, /file: .* readable by every user .*\n {4}fix: chmod o-rwx/);
  const json = JSON.parse((await runRekey(['config', 'validate', '--file', file, '--json'])).stdout);
  assert.equal(json.ok, false);
  assert.deepEqual(
    json.problems.map((p: { line: number | null; code: string }) => `${p.line}:${p.code}`),
    ['2:quoted', '3:duplicate', '3:tab', '6:outside_main', 'null:world_readable'],
  );
  const clean = copyFixture('v6-datadog.yaml');
  chmodSync(clean, 0o640);
  const ok = await runRekey(['config', 'validate', '--file', clean]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /no problems found/);
});
