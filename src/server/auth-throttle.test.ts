import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuthThrottle } from './auth-throttle.js';

describe('createAuthThrottle', () => {
  it('allows maxFailures failures, then asks to wait until the oldest leaves the window', () => {
    let now = 1_000_000;
    const throttle = createAuthThrottle({ maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(throttle.retryAfterSeconds('10.0.0.1'), 0);
      throttle.recordFailure('10.0.0.1');
      now += 10_000;
    }
    // Failures at t0, t0+10 s, t0+20 s; now t0+30 s: the first leaves the window at t0+60 s.
    assert.equal(throttle.retryAfterSeconds('10.0.0.1'), 30);
    assert.equal(throttle.retryAfterSeconds('10.0.0.2'), 0, 'other addresses are not affected');
    now += 29_000;
    assert.equal(throttle.retryAfterSeconds('10.0.0.1'), 1);
    now += 1_000;
    assert.equal(throttle.retryAfterSeconds('10.0.0.1'), 0, 'sliding: allowed again once the oldest failure is 60 s old');
    throttle.recordFailure('10.0.0.1');
    assert.equal(throttle.retryAfterSeconds('10.0.0.1'), 10, 'one more failure blocks until the next oldest leaves');
  });

  it('counts an IPv6 /64 as one address: rotating addresses inside it does not reset the budget', () => {
    const throttle = createAuthThrottle({ maxFailures: 3, windowMs: 60_000, now: () => 1_000_000 });
    for (let i = 1; i <= 3; i++) throttle.recordFailure(`2001:db8:1:2::${i.toString(16)}`);
    assert.ok(throttle.retryAfterSeconds('2001:db8:1:2:ffff:ffff:ffff:ffff') > 0, 'same /64: throttled');
    assert.equal(throttle.retryAfterSeconds('2001:db8:1:3::1'), 0, 'another /64 is not');
    assert.equal(throttle.retryAfterSeconds('::ffff:10.0.0.1'), 0);
  });

  it('tracks a bounded number of addresses, forgetting the least recently failing first', () => {
    const throttle = createAuthThrottle({ maxFailures: 1, windowMs: 60_000, maxTrackedAddresses: 100 });
    throttle.recordFailure('first');
    for (let i = 0; i < 100; i++) throttle.recordFailure(`addr-${i}`);
    assert.equal(throttle.retryAfterSeconds('first'), 0, 'evicted');
    assert.ok(throttle.retryAfterSeconds('addr-99') > 0);
    assert.ok(throttle.retryAfterSeconds('addr-1') > 0);
  });

  it('rejects a nonsensical configuration when built', () => {
    assert.throws(() => createAuthThrottle({ maxFailures: 0 }));
  });
});
