/**
 * KeyUsageMinutes (src/intake/usage-minutes.ts) on a real store, every dialect, with its clock
 * injected: counts stay in memory until their minute is over, a flush writes only finished
 * minutes (so a minute's distinct hosts are counted whole), close writes the current one too,
 * and a minute written twice (close, then the same minute after a restart) adds up; a limited
 * key's current minute written early (flushCurrent) adds up to the whole, through a failed write.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { KeyUsageMinutes } from '../../src/intake/usage-minutes.js';
import type { ApiKey, Org } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';

const MINUTE = 60_000;
const START = Date.UTC(2026, 2, 1, 8, 30, 10);
const m0 = START - 10_000;

for (const dialect of DIALECTS) {
  describe(`KeyUsageMinutes on ${dialect.name}`, () => {
    let db: TestStore;
    let org: Org;
    let key: ApiKey;
    const clock = { ms: START };

    beforeEach(async () => {
      clock.ms = START;
      db = await dialect.createStore();
      const hasher = createKeyHasher(await db.store.deploymentSecret());
      org = await db.store.createOrg('acme', CLI_ACTOR);
      const raw = generateKey('api');
      key = await db.store.createApiKey(org.id, { name: 'k', hash: hasher.hash(raw), last4: last4(raw) }, CLI_ACTOR);
    });
    afterEach(() => db.destroy());

    const stored = () => db.store.listKeyUsageMinutes(org.id, key.id, { from: new Date(m0 - MINUTE), to: new Date(m0 + 10 * MINUTE) });

    it('writes finished minutes only; close writes the current one; a minute written twice adds up', async () => {
      const usage = new KeyUsageMinutes(db.store, { now: () => clock.ms });
      usage.count(key.id, { requests: 1, bytes: 100 });
      usage.count(key.id, { points: 5, hosts: ['a', 'b', ''] });
      usage.count(key.id, { points: 2, hosts: ['a'] });
      await usage.flush();
      assert.deepEqual(await stored(), [], 'the current minute is not written yet');
      assert.deepEqual(usage.unwritten(key.id, m0, m0), [{ keyId: key.id, minute: new Date(m0), requests: 1, bytes: 100, points: 7, hosts: 2 }]);

      clock.ms += MINUTE;
      usage.count(key.id, { requests: 2, bytes: 50, hosts: ['c'] });
      await usage.flush();
      assert.deepEqual(await stored(), [{ keyId: key.id, minute: new Date(m0), requests: 1, bytes: 100, points: 7, hosts: 2 }]);
      assert.deepEqual(
        usage.unwritten(key.id, m0, m0 + MINUTE).map((m) => m.minute.getTime()),
        [m0 + MINUTE],
        'only the current minute left in memory',
      );

      await usage.close();
      const restarted = new KeyUsageMinutes(db.store, { now: () => clock.ms });
      restarted.count(key.id, { requests: 1, bytes: 1, hosts: ['c', 'd'] });
      await restarted.close();
      assert.deepEqual(
        (await stored()).map((m) => [m.minute.getTime() - m0, m.requests, m.bytes, m.hosts]),
        [
          [0, 1, 100, 2],
          [MINUTE, 3, 51, 2],
        ],
        'the same minute from two runs: requests and bytes added, hosts the larger count',
      );
    });

    it("writes a limited key's current minute early, in parts that add up to the whole; a failed part is written with the next", async () => {
      let failNext = false;
      const flaky = new Proxy(db.store, {
        get(target, name, receiver) {
          if (name !== 'recordKeyUsageMinutes') return Reflect.get(target, name, receiver) as unknown;
          return async (rows: Parameters<typeof target.recordKeyUsageMinutes>[0]) => {
            if (failNext) {
              failNext = false;
              throw new Error('database unavailable');
            }
            return target.recordKeyUsageMinutes(rows);
          };
        },
      });
      const errors: unknown[] = [];
      const usage = new KeyUsageMinutes(flaky, { now: () => clock.ms, onError: (e) => errors.push(e) });
      const only = new Set([key.id]);
      const day = m0 - (m0 % 86_400_000);
      usage.count(key.id, { requests: 1, bytes: 10, points: 3, hosts: ['a'] });
      await usage.flushCurrent(only);
      assert.deepEqual(
        (await stored()).map((m) => [m.requests, m.bytes, m.points, m.hosts]),
        [[1, 10, 3, 1]],
      );
      assert.deepEqual(usage.writtenOf(key.id, m0, day), { minutePoints: 3, dayBytes: 10 });
      assert.deepEqual(usage.unwritten(key.id, m0, m0), [], 'nothing left to write');

      usage.count(key.id, { requests: 1, bytes: 20, points: 4, hosts: ['b'] });
      failNext = true;
      await assert.rejects(usage.flushCurrent(only), /database unavailable/);
      assert.equal(errors.length, 1);
      usage.count(key.id, { requests: 1, bytes: 5, points: 1, hosts: ['a'] });
      await usage.flushCurrent(only);
      assert.deepEqual(
        (await stored()).map((m) => [m.requests, m.bytes, m.points, m.hosts]),
        [[3, 35, 8, 2]],
        'the failed part and the next, once each; the distinct hosts of the whole minute',
      );
      assert.deepEqual(usage.writtenOf(key.id, m0, day), { minutePoints: 8, dayBytes: 35 });

      clock.ms += MINUTE;
      usage.count(key.id, { requests: 1, bytes: 1, points: 1, hosts: ['c'] });
      await usage.close();
      assert.deepEqual(
        (await stored()).map((m) => [m.minute.getTime() - m0, m.requests, m.bytes, m.points, m.hosts]),
        [
          [0, 3, 35, 8, 2],
          [MINUTE, 1, 1, 1, 1],
        ],
        'the early-written minute is not written again when it is over',
      );
      assert.deepEqual(usage.writtenOf(key.id, m0 + MINUTE, day), { minutePoints: 1, dayBytes: 36 }, "this node's bytes of the day");
    });
  });
}
