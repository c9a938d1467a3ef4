/**
 * Issue 15 row 11: key guessing against the intake's verifier.
 *  - a stream of random well-formed keys (more than the whole cache holds) never evicts a
 *    real key: unknown hashes live in their own bounded negative cache;
 *  - concurrent requests for one unknown key make one database lookup;
 *  - with a lookup budget (the intake gives one per address), a guess past the budget is
 *    refused as `throttled` without any lookup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeyVerifier, type LookupBudget } from '../../src/intake/api-key-verifier.js';
import { generateKey } from '../../src/keys/key-format.js';
import { countingStore, verifierFixture } from './verifier-fixture.js';

describe('ApiKeyVerifier under key guessing', () => {
  const fixture = verifierFixture('guessing');
  const newKey = async () => (await fixture.newKey()).key;

  it('random well-formed keys never evict a real key from the cache', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher, { maxEntries: 50, maxUnknownEntries: 100 });
    await verifier.start();
    const real = [await newKey(), await newKey(), await newKey()];
    for (const key of real) assert.equal((await verifier.verify(key)).ok, true);
    const loadsForReal = counter.lookups;
    // 10x the whole cache's size of guesses.
    for (let i = 0; i < 500; i++) assert.deepEqual(await verifier.verify(generateKey('api')), { ok: false, reason: 'unknown' });
    assert.equal(counter.lookups, loadsForReal + 500, 'each distinct guess is one lookup');
    assert.ok(verifier.cacheSizes.unknown <= 100, `negative cache bounded (${verifier.cacheSizes.unknown})`);
    assert.equal(verifier.cacheSizes.known, 3);
    assert.ok(verifier.cacheSizes.lookupHashes <= 150, `remembered lookup hashes bounded (${verifier.cacheSizes.lookupHashes})`);
    for (const key of real) assert.equal((await verifier.verify(key)).ok, true);
    assert.equal(counter.lookups, loadsForReal + 500, 'the real keys are still served from memory');
    await verifier.close();
  });

  it('concurrent requests for one unknown key make one lookup, and a repeat none', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    await verifier.start();
    let open!: () => void;
    counter.gate = new Promise<void>((resolve) => (open = resolve));
    const guess = generateKey('api');
    const pending = Array.from({ length: 50 }, () => verifier.verify(guess));
    open();
    for (const verdict of await Promise.all(pending)) assert.deepEqual(verdict, { ok: false, reason: 'unknown' });
    counter.gate = undefined;
    assert.deepEqual(await verifier.verify(guess), { ok: false, reason: 'unknown' });
    assert.equal(counter.lookups, 1);
    await verifier.close();
  });

  it('past its budget, a guess is throttled without a lookup; known keys still pass', async () => {
    const { wrapped, counter } = countingStore(fixture.ts.store);
    const verifier = new ApiKeyVerifier(wrapped, fixture.hasher);
    await verifier.start();
    const real = await newKey();
    assert.equal((await verifier.verify(real)).ok, true);
    const before = counter.lookups;
    let left = 5;
    const budget: LookupBudget = { check: () => (left > 0 ? 0 : 7), spend: () => void left-- };
    const verdicts = [];
    for (let i = 0; i < 20; i++) verdicts.push(await verifier.verify(generateKey('api'), budget));
    assert.deepEqual(verdicts.slice(0, 5), Array(5).fill({ ok: false, reason: 'unknown' }));
    assert.deepEqual(verdicts.slice(5), Array(15).fill({ ok: false, reason: 'throttled', retryAfterSeconds: 7 }));
    assert.equal(counter.lookups - before, 5, 'no lookup past the budget');
    assert.equal((await verifier.verify(real, budget)).ok, true, 'a cached real key is not throttled');
    // A real key that is not cached yet does not spend the budget when found.
    const fresh = await newKey();
    left = 1;
    assert.equal((await verifier.verify(fresh, budget)).ok, true);
    assert.equal(left, 1);
    await verifier.close();
  });
});
