/**
 * The sign-in throttle's memory does not grow with what the form sends: a 1 MB "email" (the
 * body limit allows it) used to be kept whole as the (email, address) pair's key for the whole
 * window — ~2 MB per failure, 20 per address, up to 50,000 pairs. Now a pair costs the same
 * whatever the email's length, and the pair still throttles (normalised the same way).
 * And an IPv6 /64 counts as one address: rotating addresses within it used to reset every
 * per-address cap and per-pair delay.
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

test('an IPv6 /64 is one address: rotating the interface identifier does not escape the cap or the delay', () => {
  const throttle = new LoginThrottle({ freeFailures: 3, maxFailuresPerIp: 20, now: () => 0 });
  // One account, a new address of the same /64 each time: the pair's delay starts after 3.
  const pairTries = Array.from({ length: 10 }, (_, i) => throttle.begin(`2001:db8:1:2::${(i + 1).toString(16)}`, 'victim@example.com').allowed);
  assert.deepEqual(pairTries.filter(Boolean).length, 3, pairTries.join(','));
  // Many accounts, a new address each time: capped at 20 for the /64 (3 already counted).
  const other = new LoginThrottle({ freeFailures: 3, maxFailuresPerIp: 20, now: () => 0 });
  const capTries = Array.from({ length: 40 }, (_, i) => other.begin(`2001:db8:1:2:${i.toString(16)}::1`, `user${i}@example.com`).allowed);
  assert.equal(capTries.filter(Boolean).length, 20);
  // Another /64 is another address; IPv4 (also IPv4-mapped) stays per address.
  assert.equal(other.begin('2001:db8:1:3::1', 'user0@example.com').allowed, true);
  assert.equal(other.begin('::ffff:192.0.2.7', 'x@example.com').allowed, true);
});
