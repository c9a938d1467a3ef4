import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from './login-throttle.js';

describe('LoginThrottle', () => {
  it('delays a pair progressively after its free failures: 1 s, 2 s, 4 s … up to the maximum', () => {
    let now = 0;
    const throttle = new LoginThrottle({ freeFailures: 2, baseDelayMs: 1000, maxDelayMs: 8000, maxFailuresPerIp: 1000, now: () => now });
    assert.ok(throttle.begin('1.1.1.1', 'a@x.test').allowed);
    assert.ok(throttle.begin('1.1.1.1', ' A@X.test ').allowed, 'emails are compared trimmed and lower-cased');
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const refused = throttle.begin('1.1.1.1', 'a@x.test');
      assert.equal(refused.allowed, false);
      const wait = refused.allowed ? 0 : refused.retryAfterSeconds;
      waits.push(wait);
      now += wait * 1000;
      assert.ok(throttle.begin('1.1.1.1', 'a@x.test').allowed, `allowed after ${wait} s`);
    }
    assert.deepEqual(waits, [1, 2, 4, 8, 8, 8]);
  });

  it('counts an attempt when it begins: parallel attempts cannot all pass the check', () => {
    const throttle = new LoginThrottle({ freeFailures: 3, now: () => 0 });
    // 100 attempts started before any finishes (all still hashing): only the free ones run.
    const started = Array.from({ length: 100 }, () => throttle.begin('9.9.9.9', 'victim@x'));
    assert.equal(started.filter((a) => a.allowed).length, 3);
  });

  it('never locks the user out from another address (no per-email lockout)', () => {
    const throttle = new LoginThrottle({ freeFailures: 3, now: () => 0 });
    for (let i = 0; i < 50; i++) throttle.begin(`10.0.0.${i % 3}`, 'victim@x');
    assert.equal(throttle.retryAfterSeconds('10.0.0.1', 'victim@x') > 0, true, 'the attacker waits');
    const own = throttle.begin('192.0.2.7', 'victim@x');
    assert.ok(own.allowed, 'the real user, from their own address, is not delayed');
  });

  it('caps one address across emails; a success gives its attempt back and clears the pair', () => {
    let now = 0;
    const throttle = new LoginThrottle({ freeFailures: 100, maxFailuresPerIp: 3, windowMs: 60_000, now: () => now });
    for (const email of ['a@x', 'b@x']) assert.ok(throttle.begin('9.9.9.9', email).allowed);
    const good = throttle.begin('9.9.9.9', 'c@x');
    assert.ok(good.allowed);
    throttle.succeeded(good);
    assert.ok(throttle.begin('9.9.9.9', 'd@x').allowed, 'the success did not count against the address');
    const refused = throttle.begin('9.9.9.9', 'e@x');
    assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 60 });
    assert.ok(throttle.begin('8.8.8.8', 'e@x').allowed, 'another address is not capped');
    now = 60_000;
    assert.ok(throttle.begin('9.9.9.9', 'e@x').allowed, 'the cap ends with its window');
  });

  it('forgets a pair a window after its last failure', () => {
    let now = 0;
    const throttle = new LoginThrottle({ freeFailures: 1, windowMs: 60_000, now: () => now });
    throttle.begin('1.1.1.1', 'a@x');
    throttle.begin('1.1.1.1', 'a@x');
    now = 10_000;
    throttle.recordFailure('1.1.1.1', 'a@x');
    now = 70_000;
    assert.equal(throttle.retryAfterSeconds('1.1.1.1', 'a@x'), 0);
  });
});
