/**
 * Point storage on both databases: upsert de-duplication (last write wins), range queries,
 * host sightings, retention; the batching writer (a 202 means committed, many requests share
 * a transaction); key usage aggregated in memory and written at most once per interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UsageAggregator } from '../../src/intake/usage-aggregator.js';
import { KyselyPointStore } from '../../src/points/kysely-point-store.js';
import type { StoredSeries } from '../../src/points/point-store.js';
import { PointWriter } from '../../src/points/point-writer.js';
import type { KeyUsageDelta, Store } from '../../src/store/store.js';
import { DIALECTS } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';

for (const dialect of DIALECTS) {
  describe(`point storage on ${dialect.name}`, () => {
    let f: IntakeFixture;
    let points: KyselyPointStore;
    const now = Math.floor(Date.now() / 1000);
    /** A one-point series. */
    const point = ({ ts = now, value = 1, ...over }: Partial<Omit<StoredSeries, 'points'>> & { ts?: number; value?: number } = {}): StoredSeries => ({
      orgId: f.orgId,
      metric: 'm',
      host: 'h',
      tags: ['a:1'],
      type: 'gauge',
      interval: null,
      ...over,
      points: [[ts, value]],
    });

    before(async () => {
      // No periodic sweep here (default 1 h): the explicit retention test counts what it deletes.
      f = await createIntakeFixture(dialect, { retentionSeconds: 3600 });
      points = new KyselyPointStore(f.store.sharedTables());
    });
    after(() => f.close());

    it('upserts on (org, metric, host, tags, ts): duplicates in one batch and across batches count once', async () => {
      await points.writeBatch({ series: [point({ value: 1 }), point({ value: 2 }), point({ ts: now - 1, value: 3 })], hosts: [], checkRuns: [] });
      await points.writeBatch({ series: [point({ value: 5 })], hosts: [], checkRuns: [] });
      const rows = await points.queryPoints({ orgId: f.orgId, metric: 'm', from: now - 10, to: now + 10 });
      assert.deepEqual(
        rows.map((r) => [r.ts, r.value]),
        [
          [now - 1, 3],
          [now, 5],
        ],
      );
      assert.deepEqual(rows[0]!.tags, ['a:1']);
      // other tags, host or org are other series
      await points.writeBatch({ series: [point({ tags: ['a:2'] }), point({ host: 'h2' }), point({ orgId: 'other-org' })], hosts: [], checkRuns: [] });
      assert.equal((await points.queryPoints({ orgId: f.orgId, metric: 'm', from: now, to: now })).length, 3);
    });

    it('a series re-sent in a later batch counts once, the later value winning per timestamp', async () => {
      const sent = {
        ...point({ metric: 'resent' }),
        points: [
          [now - 2, 1],
          [now - 1, 2],
          [now, 3],
        ] as Array<[number, number]>,
      };
      await points.writeBatch({ series: [sent], hosts: [], checkRuns: [] });
      await points.writeBatch({
        series: [
          sent,
          {
            ...sent,
            points: [
              [now, 30],
              [now + 1, 4],
            ],
          },
        ],
        hosts: [],
        checkRuns: [],
      });
      const rows = await points.queryPoints({ orgId: f.orgId, metric: 'resent', from: now - 10, to: now + 10 });
      assert.deepEqual(
        rows.map((r) => [r.ts, r.value]),
        [
          [now - 2, 1],
          [now - 1, 2],
          [now, 30],
          [now + 1, 4],
        ],
      );
      assert.deepEqual(
        (await points.queryPoints({ orgId: f.orgId, metric: 'resent', from: now - 1, to: now, limit: 1 })).map((r) => r.ts),
        [now - 1],
      );
    });

    it('reads the chunks overlapping [from, to] from both sides, a wide chunk among narrow ones, the later write winning', async () => {
      const base = now + 100_000; // after every other test's points: the retention tests below count what they delete
      const chunk = (host: string, pts: Array<[number, number]>) => ({ ...point({ metric: 'ranged', host }), points: pts });
      // One batch is one chunk: written in this order (ids increase).
      await points.writeBatch({ series: [chunk('h', [[base + 100, 1]])], hosts: [], checkRuns: [] });
      // A wide chunk, ending long after the windows below and starting before them.
      const wide: Array<[number, number]> = [
        [base, 2],
        [base + 100, 3],
        [base + 5000, 4],
      ];
      await points.writeBatch({ series: [chunk('h', wide)], hosts: [], checkRuns: [] });
      await points.writeBatch({ series: [chunk('h2', [[base + 50, 5]])], hosts: [], checkRuns: [] });
      await points.writeBatch({ series: [chunk('h', [[base + 100, 6]])], hosts: [], checkRuns: [] });
      await points.writeBatch({ series: [chunk('h', [[base + 10_000, 7]])], hosts: [], checkRuns: [] });
      const read = async (from: number, to: number) =>
        (await points.queryPoints({ orgId: f.orgId, metric: 'ranged', from, to })).map((r) => [r.host, r.ts - base, r.value]);
      assert.deepEqual(await read(base + 50, base + 200), [
        ['h2', 50, 5],
        ['h', 100, 6],
      ]);
      assert.deepEqual(await read(base + 4000, base + 6000), [['h', 5000, 4]], 'a point of the wide chunk, which ends after "to"');
      assert.deepEqual(await read(base + 200, base + 4000), [], 'the wide chunk overlaps but holds no point inside');
      assert.deepEqual(await read(base, base + 10_000), [
        ['h', 0, 2],
        ['h2', 50, 5],
        ['h', 100, 6],
        ['h', 5000, 4],
        ['h', 10_000, 7],
      ]);
      const series = await points.querySeries({ orgId: f.orgId, metric: 'ranged', from: base, to: base + 200 });
      assert.deepEqual(series.map((s) => [s.host, [...s.ts].map((ts) => ts - base), [...s.values]]).sort(), [
        ['h', [0, 100], [2, 6]],
        ['h2', [50], [5]],
      ]);
      // The guard counts the stored points of every overlapping chunk: 1 + 3 + 1 + 1 here.
      await assert.rejects(
        points.queryPoints({ orgId: f.orgId, metric: 'ranged', from: base + 50, to: base + 200, maxScannedPoints: 5 }),
        /reading 6 stored points/,
      );
      assert.deepEqual(await points.querySeries({ orgId: f.orgId, metric: 'none', from: 0, to: now }), []);
    });

    it('retention counts the points it deletes, keeping the recent points of a chunk that straddles the cutoff', async () => {
      await points.writeBatch({
        series: [
          {
            ...point({ metric: 'aged', host: 'h-old' }),
            points: [
              [now - 9000, 1],
              [now - 8000, 2],
            ],
          },
        ],
        hosts: [],
        checkRuns: [],
      });
      await points.writeBatch({
        series: [
          {
            ...point({ metric: 'aged' }),
            points: [
              [now - 7200, 1],
              [now - 7100, 2],
              [now - 50, 3],
            ],
          },
        ],
        hosts: [],
        checkRuns: [],
      });
      assert.equal(await points.deleteOlderThan(now - 3600), 4);
      assert.deepEqual(
        (await points.queryPoints({ orgId: f.orgId, metric: 'aged', from: 0, to: now })).map((r) => [r.host, r.ts, r.value]),
        [['h', now - 50, 3]],
      );
      assert.equal(await points.deleteOlderThan(now - 3600), 0);
    });

    it('refuses a query whose range holds more stored points than allowed, before reading them (store and HTTP)', async () => {
      await points.writeBatch({
        series: [
          {
            ...point({ metric: 'big' }),
            points: [
              [now - 3, 1],
              [now - 2, 2],
              [now - 1, 3],
            ],
          },
        ],
        hosts: [],
        checkRuns: [],
      });
      assert.equal((await points.queryPoints({ orgId: f.orgId, metric: 'big', from: now - 10, to: now, maxScannedPoints: 3 })).length, 3);
      await assert.rejects(
        points.queryPoints({ orgId: f.orgId, metric: 'big', from: now - 10, to: now, maxScannedPoints: 2 }),
        /reading 3 stored points of big.*narrow/,
      );
      const g = await createIntakeFixture(dialect, { maxQueryPoints: 2 });
      try {
        for (const points of [
          [
            [now - 3, 1],
            [now - 2, 2],
          ],
          [[now - 1, 3]],
        ]) {
          const payload = JSON.stringify({ series: [{ metric: 'big', points }] });
          assert.equal(
            (await g.app.inject({ method: 'POST', url: '/api/v1/series', headers: { 'dd-api-key': g.apiKey, 'content-type': 'application/json' }, payload }))
              .statusCode,
            202,
          );
        }
        const headers = { 'dd-api-key': g.apiKey, 'dd-application-key': g.appKey };
        const refused = await g.app.inject({ method: 'GET', url: `/api/v1/query?from=${now - 10}&to=${now}&query=avg:big{*}`, headers });
        assert.equal(refused.statusCode, 400);
        assert.match(refused.json().errors[0], /narrow "from" and "to"/);
        const narrow = await g.app.inject({ method: 'GET', url: `/api/v1/query?from=${now - 1}&to=${now}&query=avg:big{*}`, headers });
        assert.equal(narrow.statusCode, 200, narrow.body);
      } finally {
        await g.close();
      }
    });

    it('keeps the earliest first-seen and latest last-seen per host', async () => {
      await points.writeBatch({
        series: [],
        checkRuns: [],
        hosts: [
          { orgId: f.orgId, host: 'hx', firstSeen: 2000, lastSeen: 3000, agentVersion: null, metadata: null },
          { orgId: f.orgId, host: 'hx', firstSeen: 1000, lastSeen: 2500, agentVersion: '7.1.0', metadata: null },
        ],
      });
      await points.writeBatch({
        series: [],
        checkRuns: [],
        hosts: [{ orgId: f.orgId, host: 'hx', firstSeen: 5000, lastSeen: 5000, agentVersion: null, metadata: '{"a":1}' }],
      });
      const { hosts } = await points.listHosts({ orgId: f.orgId, filter: 'hx' });
      assert.equal(hosts.length, 1);
      assert.deepEqual(
        [hosts[0]!.firstSeen.getTime(), hosts[0]!.lastSeen.getTime(), hosts[0]!.agentVersion, hosts[0]!.metadata],
        [1000, 5000, '7.1.0', '{"a":1}'],
      );
      assert.equal((await points.listHosts({ orgId: f.orgId, filter: 'h%' })).hosts.length, 0, 'LIKE wildcards in the filter are literal');
    });

    it('the writer groups concurrent writes into few transactions, each write resolving once committed', async () => {
      const writer = new PointWriter(points);
      const writes = Array.from({ length: 200 }, (_, i) => writer.write({ series: [point({ metric: 'batched', ts: now - i })] }));
      await Promise.all(writes);
      assert.equal((await points.queryPoints({ orgId: f.orgId, metric: 'batched', from: now - 300, to: now })).length, 200);
      assert.ok(writer.stats.batches <= 5, `${writer.stats.batches} transactions for 200 writes`);
      await writer.close();
      await assert.rejects(writer.write({ series: [point()] }), /closed/);
    });

    it('with maxConcurrentBatches, commits up to that many batches at once, a write resolving only once its own batch committed', async () => {
      let inFlight = 0;
      let mostAtOnce = 0;
      const committed = new Set<string>();
      // The real store, counting the batches being committed at the same time.
      const counting = Object.create(points) as KyselyPointStore;
      counting.writeBatch = async (batch) => {
        mostAtOnce = Math.max(mostAtOnce, ++inFlight);
        try {
          await points.writeBatch(batch);
          for (const s of batch.series) committed.add(s.metric);
        } finally {
          inFlight -= 1;
        }
      };
      // 10 points a batch: the 300 writes made at once are 30 batches, at most 3 committing at a time.
      const writer = new PointWriter(counting, { maxConcurrentBatches: 3, maxBatchPoints: 10 });
      const writes = Array.from({ length: 300 }, (_, i) =>
        writer.write({ series: [point({ metric: `concurrent.${i}`, ts: now - (i % 100) })] }).then(() => {
          assert.ok(committed.has(`concurrent.${i}`), `write ${i} resolved before its batch committed`);
        }),
      );
      await Promise.all(writes);
      assert.ok(mostAtOnce >= 2 && mostAtOnce <= 3, `${mostAtOnce} batches at once`);
      assert.equal(inFlight, 0);
      // A write made after another was acknowledged lands in a later batch: it wins per timestamp.
      await writer.write({ series: [point({ metric: 'concurrent.order', ts: now, value: 1 })] });
      await writer.write({ series: [point({ metric: 'concurrent.order', ts: now, value: 2 })] });
      const read = await points.queryPoints({ orgId: f.orgId, metric: 'concurrent.order', from: now, to: now });
      assert.deepEqual(
        read.map((p) => p.value),
        [2],
      );
      for (let i = 0; i < 300; i += 37) {
        assert.equal((await points.queryPoints({ orgId: f.orgId, metric: `concurrent.${i}`, from: now - 300, to: now })).length, 1, `concurrent.${i}`);
      }
      await writer.close();
      await assert.rejects(writer.write({ series: [point()] }), /closed/);
    });

    it('concurrent batches upserting the same hosts and check runs in opposite orders all commit (no deadlock)', async () => {
      const names = Array.from({ length: 40 }, (_, i) => `lock-${String(i).padStart(2, '0')}`);
      const batch = (order: string[], at: number) => ({
        series: [],
        hosts: order.map((host) => ({ orgId: f.orgId, host, firstSeen: at, lastSeen: at, agentVersion: null, metadata: null })),
        checkRuns: order.map((host) => ({ orgId: f.orgId, check: 'lock.check', host, tags: [], status: 0, message: String(at), ts: now })),
      });
      for (let round = 0; round < 10; round++) {
        const forward = [...names];
        const backward = [...names].reverse();
        await Promise.all([
          points.writeBatch(batch(forward, 1000 + round)),
          points.writeBatch(batch(backward, 2000 + round)),
          points.writeBatch(batch(forward, 3000 + round)),
        ]);
      }
      const { hosts, totalMatching } = await points.listHosts({ orgId: f.orgId, filter: 'lock-', count: 100 });
      assert.equal(totalMatching, 40);
      for (const host of hosts) assert.deepEqual([host.firstSeen.getTime(), host.lastSeen.getTime()], [1000, 3009]);
    });

    it('retention deletes points older than the configured age (the plugin sweeps periodically)', async () => {
      // Its own intake, sweeping every 100 ms (with the suite's, it raced the explicit deletes above).
      const g = await createIntakeFixture(dialect, { sweepIntervalMs: 100, retentionSeconds: 3600 });
      try {
        const own = new KyselyPointStore(g.store.sharedTables());
        const old = (ts: number): StoredSeries => ({ ...point({ metric: 'old', ts }), orgId: g.orgId });
        await own.writeBatch({ series: [old(now - 7200), old(now - 60)], hosts: [], checkRuns: [] });
        const deadline = Date.now() + 10_000;
        let left = await own.queryPoints({ orgId: g.orgId, metric: 'old', from: 0, to: now });
        while (left.length !== 1 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          left = await own.queryPoints({ orgId: g.orgId, metric: 'old', from: 0, to: now });
        }
        assert.deepEqual(
          left.map((p) => p.ts),
          [now - 60],
        );
      } finally {
        await g.close();
      }
    });

    it('records key usage per host in memory and writes it at most once per interval', async () => {
      const calls: KeyUsageDelta[][] = [];
      const counting = Object.create(f.store) as Store;
      counting.recordKeyUsage = async (deltas) => {
        calls.push(deltas);
        return f.store.recordKeyUsage(deltas);
      };
      const usage = new UsageAggregator(counting, { intervalMs: 200 });
      usage.start();
      const started = Date.now();
      for (let i = 0; i < 1000; i++) usage.record(f.apiKeyId, i % 2 ? 'web-1' : 'web-2', 10, i % 2 ? '7.50.0' : null);
      assert.equal(calls.length, 0, 'no write per request');
      while (calls.length === 0 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 10; i++) usage.record(f.apiKeyId, 'web-1', 1);
      await usage.close();
      assert.equal(calls.length, 2, 'one interval flush and one on close');
      const hosts = await f.store.listKeyHosts(f.orgId, f.apiKeyId);
      const web1 = hosts.find((h) => h.host === 'web-1')!;
      assert.equal(web1.points, 5010);
      assert.equal(web1.agentVersion, '7.50.0');
      assert.equal(hosts.find((h) => h.host === 'web-2')!.points, 5000);
      assert.ok((await f.store.getApiKey(f.orgId, f.apiKeyId))!.lastUsedAt !== null);
    });

    it('through HTTP: usage reaches the key’s hosts after the plugin closes (flush on close)', async () => {
      const g = await createIntakeFixture(dialect);
      try {
        for (let i = 0; i < 20; i++) {
          const r = await g.app.inject({
            method: 'POST',
            url: '/api/v2/series',
            headers: { 'dd-api-key': g.apiKey, 'content-type': 'application/json', 'dd-agent-version': '7.49.1' },
            payload: JSON.stringify({
              series: [
                {
                  metric: 'u',
                  points: [
                    { timestamp: now - i, value: i },
                    { timestamp: now - i - 100, value: i },
                  ],
                  resources: [{ type: 'host', name: 'agent-host' }],
                },
              ],
            }),
          });
          assert.equal(r.statusCode, 202);
        }
        const viaUserAgent = await g.app.inject({
          method: 'POST',
          url: '/api/v1/series',
          headers: { 'dd-api-key': g.apiKey, 'content-type': 'application/json', 'user-agent': 'datadog-agent/7.52.1' },
          payload: JSON.stringify({ series: [{ metric: 'u', points: [[now, 1]], host: 'ua-host' }] }),
        });
        assert.equal(viaUserAgent.statusCode, 202);
        await g.app.close();
        const hosts = await g.store.listKeyHosts(g.orgId, g.apiKeyId);
        assert.deepEqual(hosts.map((h) => [h.host, h.points, h.agentVersion]).sort(), [
          ['agent-host', 40, '7.49.1'],
          ['ua-host', 1, '7.52.1'],
        ]);
      } finally {
        await g.close();
      }
    });
  });
}
