import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from './login-throttle.js';

describe('LoginThrottle', () => {
  it('blocks an email after its failures, from any IP, until the window passes', () => {
    let now = 0;
    const throttle = new LoginThrottle({ maxFailuresPerEmail: 2, maxFailuresPerIp: 100, windowMs: 60_000, now: () => now });
    throttle.recordFailure('1.1.1.1', 'A@x.test');
    assert.equal(throttle.retryAfterSeconds('1.1.1.1', 'a@x.test'), 0);
    throttle.recordFailure('2.2.2.2', 'a@x.test');
    assert.equal(throttle.retryAfterSeconds('3.3.3.3', ' a@X.test '), 60);
    now = 30_000;
    assert.equal(throttle.retryAfterSeconds('3.3.3.3', 'a@x.test'), 30);
    now = 60_000;
    assert.equal(throttle.retryAfterSeconds('3.3.3.3', 'a@x.test'), 0);
  });

  it('blocks an IP guessing many emails; a success clears only the email', () => {
    const throttle = new LoginThrottle({ maxFailuresPerEmail: 100, maxFailuresPerIp: 3, now: () => 0 });
    for (const email of ['a@x', 'b@x', 'c@x']) throttle.recordFailure('9.9.9.9', email);
    assert.ok(throttle.retryAfterSeconds('9.9.9.9', 'd@x') > 0);
    assert.equal(throttle.retryAfterSeconds('8.8.8.8', 'd@x'), 0);
    throttle.recordSuccess('a@x');
    assert.ok(throttle.retryAfterSeconds('9.9.9.9', 'a@x') > 0, 'the IP stays blocked');
  });
});
