import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentSettings } from './agent-settings.js';
import { isRekeyError } from '../errors.js';

const fixtures = new URL('../../test/fixtures/config/', import.meta.url).pathname;
const OLD = '0123456789abcdef0123456789abc7cd';
const noEnv = {};

function tempFile(name: string, content: string | Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-settings-'));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

test('v5 datadog.conf: key, URL, hostname, tags and DogStatsD settings from [Main]', () => {
  for (const name of ['v5-datadog.conf', 'v5-crlf-bom.conf', 'v5-crlf.conf', 'v5-bom.conf']) {
    const settings = loadAgentSettings({ file: fixtures + name, env: noEnv });
    assert.deepEqual(settings.source, { file: fixtures + name, format: 'v5' }, name);
    assert.equal(settings.apiKey, OLD, name);
    assert.equal(settings.apiKeySource, 'file');
    assert.equal(settings.apiKeyLine, 13);
    assert.equal(settings.intakeUrl, 'https://app.datadoghq.com');
    assert.equal(settings.hostname, 'web-01.example.com');
    assert.deepEqual(settings.tags, ['env:prod', 'role:web']);
    assert.equal(settings.dogstatsdPort, 8125);
    assert.equal(settings.dogstatsdNonLocalTraffic, false);
    assert.deepEqual(settings.additionalEndpoints, {});
  }
});

test('v5: "key = value", an inline ; comment, and api_key in another section is ignored', () => {
  const settings = loadAgentSettings({ file: fixtures + 'v5-equals-and-inline-comment.conf', env: noEnv });
  assert.equal(settings.apiKey, OLD);
  assert.equal(settings.intakeUrl, 'https://api.datadoghq.com');
});

test('v6 datadog.yaml: site gives the intake URL; tags list; non-local traffic', () => {
  for (const name of ['v6-datadog.yaml', 'v6-crlf-bom.yaml', 'v6-crlf.yaml', 'v6-bom.yaml']) {
    const settings = loadAgentSettings({ file: fixtures + name, env: noEnv });
    assert.equal(settings.source.format, 'v6', name);
    assert.equal(settings.apiKey, OLD);
    assert.equal(settings.apiKeyLine, 10);
    assert.equal(settings.site, 'datadoghq.eu');
    assert.equal(settings.intakeUrl, 'https://api.datadoghq.eu');
    assert.equal(settings.hostname, 'db-02.example.com');
    assert.deepEqual(settings.tags, ['env:staging', 'team:data']);
    assert.equal(settings.dogstatsdPort, 8125);
    assert.equal(settings.dogstatsdNonLocalTraffic, true);
  }
});

test('missing and commented-out keys are "none"', () => {
  for (const name of ['v5-commented-key.conf', 'v5-missing-key.conf', 'v6-commented-key.yaml', 'v6-missing-key.yaml']) {
    const settings = loadAgentSettings({ file: fixtures + name, env: noEnv });
    assert.equal(settings.apiKey, null, name);
    assert.equal(settings.apiKeySource, 'none', name);
  }
});

test('a secret handle is reported as such, never as the key', () => {
  const settings = loadAgentSettings({ file: fixtures + 'v6-secret-handle.yaml', env: noEnv });
  assert.equal(settings.apiKey, null);
  assert.equal(settings.apiKeySource, 'secret_handle');
  assert.equal(settings.secretHandle, 'ENC[datadog_api_key]');
});

test('additional_endpoints and dd_url (trailing slash dropped)', () => {
  const settings = loadAgentSettings({ file: fixtures + 'v6-additional-endpoints.yaml', env: noEnv });
  assert.equal(settings.intakeUrl, 'https://intake.rekey.internal');
  assert.deepEqual(settings.additionalEndpoints, {
    'https://app.datadoghq.com': ['aaaabbbbccccddddeeeeffff0000c58f'],
    'https://intake.rekey.internal': ['111122223333444455556666777793a5'],
  });
});

test('v5 additional_endpoints JSON and comma-separated api_key/dd_url pairs', () => {
  const file = tempFile(
    'datadog.conf',
    '[Main]\ndd_url: https://a.example,https://b.example\napi_key: k1, k2\nadditional_endpoints: {"https://c.example": ["k3"]}\n',
  );
  const settings = loadAgentSettings({ file, env: noEnv });
  assert.equal(settings.apiKey, 'k1');
  assert.equal(settings.intakeUrl, 'https://a.example');
  assert.deepEqual(settings.additionalEndpoints, { 'https://b.example': ['k2'], 'https://c.example': ['k3'] });
});

test('DD_* environment overrides the file; DD_DD_URL wins over DD_URL', () => {
  const env = {
    DD_API_KEY: 'aaaabbbbccccddddeeeeffff0000c58f',
    DD_SITE: 'us5.datadoghq.com',
    DD_URL: 'https://loser.example',
    DD_DD_URL: 'https://winner.example/',
    DD_HOSTNAME: 'from-env',
    DD_TAGS: 'a:1  b:2',
    DD_DOGSTATSD_PORT: '9125',
  };
  const settings = loadAgentSettings({ file: fixtures + 'v6-datadog.yaml', env });
  assert.equal(settings.apiKey, env.DD_API_KEY);
  assert.equal(settings.apiKeySource, 'env');
  assert.equal(settings.apiKeyLine, null);
  assert.equal(settings.site, 'us5.datadoghq.com');
  assert.equal(settings.intakeUrl, 'https://winner.example');
  assert.equal(settings.hostname, 'from-env');
  assert.deepEqual(settings.tags, ['a:1', 'b:2']);
  assert.equal(settings.dogstatsdPort, 9125);
  const urlOnly = loadAgentSettings({ file: fixtures + 'v6-datadog.yaml', env: { DD_URL: 'https://loser.example' } });
  assert.equal(urlOnly.intakeUrl, 'https://loser.example');
  const siteOnly = loadAgentSettings({ file: fixtures + 'v5-missing-key.conf', env: { DD_SITE: 'datadoghq.eu' } });
  assert.equal(siteOnly.intakeUrl, 'https://app.datadoghq.com', 'the file dd_url is an explicit URL and beats a site');
});

test('no file anywhere: settings come from the environment alone, with defaults', () => {
  const settings = loadAgentSettings({ env: {}, defaultPaths: ['/nonexistent/datadog.yaml'] });
  assert.deepEqual(settings.source, { file: null, format: 'env' });
  assert.equal(settings.apiKey, null);
  assert.equal(settings.apiKeySource, 'none');
  assert.equal(settings.intakeUrl, 'https://api.datadoghq.com');
  assert.equal(settings.dogstatsdPort, 8125);
  assert.equal(settings.dogstatsdNonLocalTraffic, false);
  const found = loadAgentSettings({ env: {}, defaultPaths: ['/nonexistent/datadog.yaml', fixtures + 'v5-datadog.conf'] });
  assert.equal(found.source.file, fixtures + 'v5-datadog.conf');
});

function assertThrowsAt(file: string, code: 'CONFIG_LINE_INVALID' | 'CONFIG_UNREADABLE', line?: number): void {
  assert.throws(
    () => loadAgentSettings({ file, env: noEnv }),
    (error: unknown) => {
      assert.ok(isRekeyError(error, code), String(error));
      assert.ok(error.message.includes(file), error.message);
      if (line !== undefined) assert.ok(error.message.includes(`line ${line}:`), error.message);
      assert.equal(error.message.includes('\n'), false, 'one-line message');
      return true;
    },
  );
}

test('invalid files: one-line error naming the file and the line', () => {
  assertThrowsAt(tempFile('datadog.yaml', 'site: x\napi_key: a: b\nhostname: h\n'), 'CONFIG_LINE_INVALID', 2);
  assertThrowsAt(tempFile('datadog.yaml', 'api_key: a\nsite: x\napi_key: b\n'), 'CONFIG_LINE_INVALID', 3);
  assertThrowsAt(tempFile('datadog.yaml', '- a\n- b\n'), 'CONFIG_LINE_INVALID', 1);
  assertThrowsAt(tempFile('datadog.yaml', 'site: x\ndogstatsd_port: eighty\n'), 'CONFIG_LINE_INVALID', 2);
  assertThrowsAt(tempFile('datadog.conf', '[Main]\napi_key: x\nthis is not a setting\n'), 'CONFIG_LINE_INVALID', 3);
  assertThrowsAt(tempFile('datadog.conf', 'api_key: x\n[Main]\n'), 'CONFIG_LINE_INVALID', 1);
  assertThrowsAt(tempFile('datadog.conf', '[Main]\ndogstatsd_port: 99999\n'), 'CONFIG_LINE_INVALID', 2);
  assertThrowsAt('/nonexistent/datadog.yaml', 'CONFIG_UNREADABLE');
  assert.throws(() => loadAgentSettings({ file: fixtures + 'v6-datadog.yaml', env: { DD_DOGSTATSD_PORT: 'x' } }), /DD_DOGSTATSD_PORT/);
});

test('a plain all-digit key is read as written, not as a number', () => {
  const key = '12345678901234567890123456789012';
  const settings = loadAgentSettings({ file: tempFile('datadog.yaml', `api_key: ${key}\n`), env: noEnv });
  assert.equal(settings.apiKey, key);
});

test('DD_ADDITIONAL_ENDPOINTS and DD_DOGSTATSD_NON_LOCAL_TRAFFIC override the file', () => {
  const env = {
    DD_ADDITIONAL_ENDPOINTS: '{"https://intake.example": ["k1", "k2"]}',
    DD_DOGSTATSD_NON_LOCAL_TRAFFIC: 'false',
  };
  const settings = loadAgentSettings({ file: fixtures + 'v6-additional-endpoints.yaml', env });
  assert.deepEqual(settings.additionalEndpoints, { 'https://intake.example': ['k1', 'k2'] });
  assert.equal(settings.dogstatsdNonLocalTraffic, false);
  assert.equal(loadAgentSettings({ file: fixtures + 'v5-datadog.conf', env: { DD_DOGSTATSD_NON_LOCAL_TRAFFIC: 'true' } }).dogstatsdNonLocalTraffic, true);
  assert.throws(
    () => loadAgentSettings({ file: fixtures + 'v6-datadog.yaml', env: { DD_ADDITIONAL_ENDPOINTS: '["k1"]' } }),
    (error: unknown) => isRekeyError(error, 'CONFIG_INVALID') && /DD_ADDITIONAL_ENDPOINTS must be JSON/.test(error.message),
  );
});

test('an empty DD_API_KEY does not override the file', () => {
  const settings = loadAgentSettings({ file: fixtures + 'v6-datadog.yaml', env: { DD_API_KEY: '' } });
  assert.equal(settings.apiKeySource, 'file');
  assert.equal(settings.apiKey, OLD);
});
