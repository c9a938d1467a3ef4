import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRekey } from '../support/processes.js';
import { NEW_KEY } from './config-corpus.js';

const SETTINGS: Record<string, RegExp> = {
  ansible: /^datadog_api_key: "@KEY@"$/m,
  chef: /^node\.default\['datadog'\]\['api_key'\] = '@KEY@'$/m,
  puppet: /^datadog_agent::api_key: '@KEY@'$/m,
  helm: /^datadog:\n {2}apiKey: "@KEY@"$/m,
  env: /^DD_API_KEY=@KEY@$/m,
};
const withKey = (pattern: RegExp, key: string) => new RegExp(pattern.source.replace('@KEY@', key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'm');

test("snippet: each tool's exact setting; the key only with --reveal", async () => {
  for (const [tool, pattern] of Object.entries(SETTINGS)) {
    const masked = await runRekey(['snippet', tool, '--key-stdin'], { input: `${NEW_KEY}\n` });
    assert.equal(masked.code, 0, masked.stderr);
    assert.ok(!masked.stdout.includes(NEW_KEY), `${tool}: no key without --reveal`);
    assert.match(masked.stdout, withKey(pattern, `${'•'.repeat(28)}c58f`), tool);
    const revealed = await runRekey(['snippet', tool, '--key-env', 'THE_KEY', '--reveal'], { env: { ...process.env, THE_KEY: NEW_KEY } });
    assert.equal(revealed.code, 0, revealed.stderr);
    assert.match(revealed.stdout, withKey(pattern, NEW_KEY), tool);
  }
});

test('snippet: placeholder without a key; a malformed key or a bad tool is refused', async () => {
  const placeholder = await runRekey(['snippet', 'env']);
  assert.match(placeholder.stdout, /^DD_API_KEY=<YOUR_API_KEY>$/m);
  const bad = await runRekey(['snippet', 'ansible', '--key-stdin'], { input: `'${NEW_KEY}'` });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /quotes/);
  assert.ok(!bad.stderr.includes(NEW_KEY));
  assert.equal((await runRekey(['snippet', 'salt'])).code, 2);
  assert.equal((await runRekey(['snippet', 'env', '--reveal'])).code, 2);
});
