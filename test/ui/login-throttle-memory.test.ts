/**
 * The sign-in throttle's memory does not grow with what the form sends: a 1 MB "email" (the
 * body limit allows it) used to be kept whole as the (email, address) pair's key for the whole
 * window — ~2 MB per failure, 20 per address, up to 50,000 pairs. Now a pair costs the same
 * whatever the email's length, and the pair still throttles (normalised the same way).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginThrottle } from '../../src/ui/login-throttle.js';

test('a huge email is not kept: every pair key is short, and the pair still throttles', () => {
  let now = 0;
  const throttle = new LoginThrottle({ freeFailures: 3, now: () => now });
  const huge = `${'v'.repeat(1_000_000)}@example.com`;
  for (let i = 0; i < 3; i++) {
    const attempt = throttle.begin('192.0.2.1', i === 1 ? `  ${huge.toUpperCase()} ` : huge);
    assert.equal(attempt.allowed, true);
    now += 10;
  }
  assert.equal(throttle.begin('192.0.2.1', huge).allowed, false, 'the 4th failure of the same pair waits');
  const keys = [...(throttle as unknown as { byPair: Map<string, unknown> }).byPair.keys()];
  assert.equal(keys.length, 1);
  for (const key of keys) assert.ok(key.length < 100, `a pair key of ${key.length} characters`);
});
