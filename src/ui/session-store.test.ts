import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionStore } from './session-store.js';

describe('SessionStore', () => {
  it('gives each session a random id and CSRF token, and forgets it at expiry', () => {
    let now = 1000;
    const sessions = new SessionStore({ ttlMs: 500, now: () => now });
    const a = sessions.create('u1', 'o1');
    const b = sessions.create('u1', 'o1');
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.csrfToken, b.csrfToken);
    assert.ok(a.id.length >= 43);
    assert.equal(sessions.get(a.id), a);
    now = 1499;
    assert.equal(sessions.get(a.id), a);
    now = 1500;
    assert.equal(sessions.get(a.id), undefined);
    assert.equal(sessions.get('nope'), undefined);
    assert.equal(sessions.get(undefined), undefined);
  });

  it('is bounded, and a one-time form id is accepted once', () => {
    const sessions = new SessionStore({ ttlMs: 60_000, maxSessions: 3 });
    const first = sessions.create('u', 'o');
    for (let i = 0; i < 5; i++) sessions.create('u', 'o');
    assert.ok(sessions.size <= 3);
    assert.equal(sessions.get(first.id), undefined, 'the oldest was dropped');
    const s = sessions.create('u', 'o');
    assert.equal(sessions.consumeFormId(s, 'f1'), true);
    assert.equal(sessions.consumeFormId(s, 'f1'), false);
    sessions.destroyUser('u');
    assert.equal(sessions.size, 0);
  });
});
