/**
 * The intake's key verifier: checksum before lookup, a cache keyed by hash that also holds
 * "unknown", one load per hash at a time, bounded entry lifetime, change feed and reset,
 * and no stale "active" row put back by a load that raced a revoke.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeyVerifier } from '../../src/intake/api-key-verifier.js';
import { generateKey } from '../../src/keys/key-format.js';
import { CLI_ACTOR } from '../support/dialects.js';
import { countingStore, verifierFixture } from './verifier-fixture.js';

describe('ApiKeyVerifier', () => {
  const fixture = verifierFixture('verifier');
  const newKey = () => fixture.newKey();

  it('refuses missing and malformed keys without any lookup', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    const good = generateKey('api');
    const mistyped = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
    assert.deepEqual(await verifier.verify(undefined), { ok: false, reason: 'missing' });
    assert.deepEqual(await verifier.verify(''), { ok: false, reason: 'missing' });
    assert.deepEqual(await verifier.verify(mistyped), { ok: false, reason: 'malformed' });
    assert.deepEqual(await verifier.verify('zz'), { ok: false, reason: 'malformed' });
    assert.equal(counter.lookups, 0);
  });

  it('caches "unknown" and de-duplicates concurrent loads: 1,000 requests, one lookup', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    const unknown = generateKey('api');
    const verdicts = await Promise.all(Array.from({ length: 1000 }, () => verifier.verify(unknown)));
    assert.ok(verdicts.every((v) => !v.ok && v.reason === 'unknown'));
    assert.equal(counter.lookups, 1);
    const { key } = await newKey();
    const ok = await Promise.all(Array.from({ length: 500 }, () => verifier.verify(key)));
    assert.ok(ok.every((v) => v.ok));
    assert.equal(counter.lookups, 2);
  });

  it('hashes a key once: later verifications find its lookup hash by its digest, and a revoke still applies', async () => {
    let hmacs = 0;
    const hasher = { hash: (key: string) => (hmacs++, fixture.hasher.hash(key)) };
    const verifier = new ApiKeyVerifier(fixture.ts.store, hasher);
    await verifier.start();
    try {
      const { key, row } = await newKey();
      for (let i = 0; i < 100; i++) assert.equal((await verifier.verify(key)).ok, true);
      assert.equal(hmacs, 1);
      const mistyped = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
      for (let i = 0; i < 3; i++) assert.deepEqual(await verifier.verify(mistyped), { ok: false, reason: 'malformed' });
      assert.equal(hmacs, 1, 'a malformed key is refused before any HMAC, every time');
      assert.equal(verifier.cacheSizes.lookupHashes, 1, 'only well-formed keys are remembered');
      await fixture.ts.store.revokeApiKey(fixture.orgId, row.id, CLI_ACTOR);
      assert.deepEqual(await verifier.verify(key), { ok: false, reason: 'revoked' });
      assert.equal(hmacs, 1);
    } finally {
      await verifier.close();
    }
  });

  it('bounds every entry’s lifetime (≤ 5 s, even when asked for more)', async () => {
    let clock = 1_000_000;
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher, { ttlMs: 60_000, now: () => clock });
    const { key } = await newKey();
    await verifier.verify(key);
    clock += 4_999;
    await verifier.verify(key);
    assert.equal(counter.lookups, 1);
    clock += 2;
    await verifier.verify(key);
    assert.equal(counter.lookups, 2, 'reloaded after 5 s');
  });

  it('a revoke is seen by the next verification (change feed), a reset drops everything', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    await verifier.start();
    try {
      const { key, row } = await newKey();
      assert.equal((await verifier.verify(key)).ok, true);
      await fixture.ts.store.revokeApiKey(fixture.orgId, row.id, CLI_ACTOR);
      assert.deepEqual(await verifier.verify(key), { ok: false, reason: 'revoked' });
      await fixture.ts.store.restoreApiKey(fixture.orgId, row.id, CLI_ACTOR);
      assert.equal((await verifier.verify(key)).ok, true);
      const before = counter.lookups;
      await verifier.verify(key);
      assert.equal(counter.lookups, before, 'cached');
      counter.listener!.onReset();
      await verifier.verify(key);
      assert.equal(counter.lookups, before + 1, 'reloaded after a reset');
    } finally {
      await verifier.close();
    }
  });

  it('a load that began before a revoke cannot put the old "active" row back', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    await verifier.start();
    try {
      const { key, row } = await newKey();
      let release!: () => void;
      counter.gate = new Promise((resolve) => (release = resolve));
      const early = verifier.verify(key); // reads the active row, then waits at the gate
      await new Promise((resolve) => setTimeout(resolve, 20));
      await fixture.ts.store.revokeApiKey(fixture.orgId, row.id, CLI_ACTOR);
      counter.gate = undefined;
      release();
      await early; // may say ok: it began before the revoke
      assert.deepEqual(await verifier.verify(key), { ok: false, reason: 'revoked' });
    } finally {
      await verifier.close();
    }
  });

  it('checks expiry at request time, cached or not', async () => {
    let clock = Date.now();
    const verifier = new ApiKeyVerifier(fixture.ts.store, fixture.hasher, { now: () => clock });
    const { row, key } = await newKey();
    await fixture.ts.store.rollApiKey(fixture.orgId, row.id, { hash: fixture.hasher.hash(generateKey('api')), last4: 'ffff' }, 2_000, CLI_ACTOR);
    assert.equal((await verifier.verify(key)).ok, true);
    clock += 2_500;
    assert.deepEqual(await verifier.verify(key), { ok: false, reason: 'expired' });
  });
});
