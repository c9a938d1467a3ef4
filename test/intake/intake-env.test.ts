/**
 * The intake's abuse limits from the server's environment (src/intake/intake-env.ts):
 * values parsed, unset ones left to the defaults, malformed ones refused at start-up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RekeyError } from '../../src/errors.js';
import { intakeLimitsFromEnv } from '../../src/intake/intake-env.js';
import { runRekey } from '../support/processes.js';

test('REKEY_INTAKE_* variables set the rate limits and payload caps; unset ones are left out', () => {
  assert.deepEqual(intakeLimitsFromEnv({}), {});
  assert.deepEqual(
    intakeLimitsFromEnv({
      REKEY_INTAKE_RATE_PER_KEY: '100/250',
      REKEY_INTAKE_REFUSED_PER_KEY: '0.5/10',
      REKEY_INTAKE_MAX_SERIES: '2000',
      REKEY_INTAKE_MAX_POINTS: '',
    }),
    { rateLimits: { perKey: { perSecond: 100, burst: 250 }, refusedPayloadsPerKey: { perSecond: 0.5, burst: 10 } }, payloadCaps: { maxSeries: 2000 } },
  );
});

test('a malformed value fails with USAGE naming the variable', () => {
  for (const [variable, value] of [
    ['REKEY_INTAKE_RATE_PER_ADDRESS', '1000'],
    ['REKEY_INTAKE_RATE_PER_ADDRESS', '0/10'],
    ['REKEY_INTAKE_UNKNOWN_KEYS_PER_ADDRESS', '10/0'],
    ['REKEY_INTAKE_MAX_TAGS', '-1'],
    ['REKEY_INTAKE_MAX_JSON_VALUES', 'lots'],
  ] as const) {
    assert.throws(
      () => intakeLimitsFromEnv({ [variable]: value }),
      (error: unknown) => error instanceof RekeyError && error.code === 'USAGE' && error.message.startsWith(variable),
      `${variable}=${value}`,
    );
  }
});

test(
  'a malformed REKEY_INTAKE_* value stops `rekey server` before it initialises a new store (no credentials shown and lost)',
  { timeout: 60_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rekey-intake-env-'));
    try {
      const { REKEY_DATABASE_URL: _url, ...env } = process.env;
      const result = await runRekey(['server', '--data', dataDir, '--host', '127.0.0.1', '--port', '0'], {
        env: { ...env, REKEY_INTAKE_RATE_PER_KEY: 'lots' },
        timeoutMs: 50_000,
      });
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /REKEY_INTAKE_RATE_PER_KEY "lots" must be REQUESTS_PER_SECOND\/BURST/);
      assert.doesNotMatch(result.stdout, /admin password|API key:/, 'no credentials printed');
      assert.deepEqual(readdirSync(dataDir), [], 'nothing initialised');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
