/**
 * The intake journal on both databases: a 202 means the batch is in the journal; the points
 * reach the database within the save interval, and at once when read; what a crashed run
 * left in the journal is saved at the next start, once; while the database fails, batches
 * are still acknowledged up to a bound, then refused (503), and all are saved once it is back.
 * (A real process killed with SIGKILL: test/server/intake-journal-crash.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { KyselyPointStore } from '../../src/points/kysely-point-store.js';
import { pointsIn } from '../../src/points/batch-record.js';
import { PointJournal, readRecords } from '../../src/points/point-journal.js';
import type { PointBatch, PointStore, StoredSeries } from '../../src/points/point-store.js';
import { PointWriter } from '../../src/points/point-writer.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { buildApp } from '../../src/server/app.js';
import { createServerLogger } from '../../src/server/logger.js';
import { CLI_ACTOR, DIALECTS, SQLITE, type TestStore } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';

const journalFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.journal'));
/** Bytes of records: each file starts with an 8-byte header (point-journal.ts). */
const journaledPoints = (dir: string) =>
  journalFiles(dir).reduce((n, name) => n + readRecords(readFileSync(join(dir, name))).records.reduce((sum, record) => sum + pointsIn(record), 0), 0);
const journaledBytes = (dir: string) => journalFiles(dir).reduce((n, name) => n + Math.max(0, statSync(join(dir, name)).size - 8), 0);

for (const dialect of DIALECTS) {
  describe(`intake journal on ${dialect.name}`, () => {
    const now = Math.floor(Date.now() / 1000);
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'rekey-intake-journal-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const payload = (metric: string, values: number[]) => ({
      series: [
        {
          metric,
          type: 3,
          points: values.map((value, i) => ({ timestamp: now - 60 + i, value })),
          resources: [{ name: 'web-1', type: 'host' }],
          tags: ['env:test'],
        },
      ],
    });

    describe('through the intake', () => {
      let f: IntakeFixture | undefined;
      after(() => f?.close());

      it('acknowledges from the journal, and a query reads back every acknowledged point at once', async () => {
        const fx = (f = await createIntakeFixture(dialect, { journalDir: dir, journalSaveIntervalMs: 3_600_000 }));
        const headers = { 'content-type': 'application/json', 'dd-api-key': fx.apiKey };
        for (let i = 0; i < 5; i++) {
          const response = await fx.app.inject({ method: 'POST', url: '/api/v2/series', headers, payload: payload('journal.ack', [i * 10, i * 10 + 1]) });
          assert.equal(response.statusCode, 202);
        }
        const points = new KyselyPointStore(fx.store.sharedTables());
        assert.equal(
          (await points.queryPoints({ orgId: fx.orgId, metric: 'journal.ack', from: 0, to: now + 60 })).length,
          0,
          'not in the database yet: the 202s came from the journal',
        );
        assert.ok(journaledBytes(dir) > 0, 'the batches are in the journal');

        const query = await fx.app.inject({
          method: 'GET',
          url: `/api/v1/query?from=${now - 3600}&to=${now + 60}&query=${encodeURIComponent('avg:journal.ack{*}')}`,
          headers: { 'dd-api-key': fx.apiKey, 'dd-application-key': fx.appKey },
        });
        assert.equal(query.statusCode, 200);
        const series = (query.json() as { series: Array<{ pointlist: Array<[number, number]> }> }).series;
        // Every payload wrote the same two timestamps; the last payload's values win.
        assert.deepEqual(
          series[0]!.pointlist.map(([, v]) => v),
          [40, 41],
        );
        assert.equal((await points.queryPoints({ orgId: fx.orgId, metric: 'journal.ack', from: 0, to: now + 60 })).length, 2, 'saved into the database');
        // Points, not bytes: the host sightings of these payloads are journaled when their timer
        // fires (a record without points), which a loaded machine may put after the save.
        assert.equal(journaledPoints(dir), 0, 'saved batches leave the journal');
        await fx.close();
        f = undefined;
        assert.deepEqual(journalFiles(dir), [], 'a clean shutdown leaves no journal file');
      });

      it('saves into the database by itself within the save interval', async () => {
        const fx = (f = await createIntakeFixture(dialect, { journalDir: dir, journalSaveIntervalMs: 100 }));
        const response = await fx.app.inject({
          method: 'POST',
          url: '/api/v2/series',
          headers: { 'content-type': 'application/json', 'dd-api-key': fx.apiKey },
          payload: payload('journal.timer', [1, 2, 3]),
        });
        assert.equal(response.statusCode, 202);
        const points = new KyselyPointStore(fx.store.sharedTables());
        const deadline = Date.now() + 5000;
        let stored = 0;
        while (stored < 3 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          stored = (await points.queryPoints({ orgId: fx.orgId, metric: 'journal.timer', from: 0, to: now + 60 })).length;
        }
        assert.equal(stored, 3);
        await fx.close();
        f = undefined;
      });
    });

    describe('around the writer', () => {
      let db: TestStore;
      let orgId: string;
      beforeEach(async () => {
        db = await dialect.createStore();
        orgId = (await db.store.createOrg(`org-${Math.random().toString(36).slice(2, 8)}`, CLI_ACTOR)).id;
      });
      afterEach(() => db.destroy());
      const series = (metric: string, ts: number, value: number): StoredSeries => ({
        orgId,
        metric,
        host: 'h',
        tags: [],
        type: 'gauge',
        interval: null,
        points: [[ts, value]],
      });

      it('saves at the next start what a crashed run acknowledged, exactly once', async () => {
        const store = new KyselyPointStore(db.store.sharedTables());
        const crashed = new PointWriter(store, { journal: PointJournal.open(dir), saveIntervalMs: 3_600_000 });
        await crashed.write({ series: [series('crash', now - 2, 1), series('crash', now - 1, 2)] });
        await crashed.write({ series: [series('crash', now - 1, 20)] });
        // The run ends here without closing: nothing was saved.
        assert.equal((await store.queryPoints({ orgId, metric: 'crash', from: 0, to: now })).length, 0);

        const recovered = PointJournal.recover(dir);
        const next = new PointWriter(store, { journal: PointJournal.open(dir) });
        assert.deepEqual(await next.recover(recovered), { points: 3, dropped: 0, droppedPoints: 0 });
        assert.deepEqual(
          (await store.queryPoints({ orgId, metric: 'crash', from: 0, to: now })).map((p) => [p.ts, p.value]),
          [
            [now - 2, 1],
            [now - 1, 20],
          ],
        );
        assert.equal(PointJournal.recover(dir).records.length, 0, 'the recovered files are gone: a third start saves nothing twice');
        await next.close();
      });

      it('while the database fails, acknowledges up to the bound, then refuses; once it is back, saves everything', async () => {
        const real = new KyselyPointStore(db.store.sharedTables());
        let failing = true;
        const flaky: PointStore = {
          ...real,
          writeBatch: (batch: PointBatch) => (failing ? Promise.reject(new Error('database unreachable')) : real.writeBatch(batch)),
          queryPoints: (q) => real.queryPoints(q),
          querySeries: (q) => real.querySeries(q),
          listHosts: (q) => real.listHosts(q),
          listMetrics: (o, since) => real.listMetrics(o, since),
          deleteOlderThan: (c) => real.deleteOlderThan(c),
        };
        const saveErrors: unknown[] = [];
        const writer = new PointWriter(flaky, {
          journal: PointJournal.open(dir),
          saveIntervalMs: 3_600_000,
          maxUnsavedPoints: 3,
          onSaveError: (e) => saveErrors.push(e),
        });
        await writer.write({ series: [series('flaky', now - 3, 1)] });
        await writer.write({ series: [series('flaky', now - 2, 2)] });
        await assert.rejects(writer.saveNow(), /database unreachable/);
        assert.equal(saveErrors.length, 1);
        await writer.write({ series: [series('flaky', now - 1, 3)] }); // the bound is not reached yet
        await assert.rejects(writer.saveNow(), /database unreachable/);
        await assert.rejects(
          writer.write({ series: [series('flaky', now, 4)] }),
          (error: Error & { code?: string; status?: number }) =>
            error.code === 'INTAKE_STORAGE_FAILED' && error.status === 503 && /database unreachable/.test(String((error.cause as Error).message)),
          'at the bound, a batch is refused (503)',
        );
        assert.equal(writer.unsavedPointCount, 3);

        failing = false;
        await writer.saveNow();
        assert.equal(writer.unsavedPointCount, 0);
        assert.deepEqual(
          (await real.queryPoints({ orgId, metric: 'flaky', from: 0, to: now })).map((p) => p.value),
          [1, 2, 3],
        );
        await writer.write({ series: [series('flaky', now, 4)] });
        await writer.close();
        assert.deepEqual(
          (await real.queryPoints({ orgId, metric: 'flaky', from: 0, to: now })).map((p) => p.value),
          [1, 2, 3, 4],
        );
        assert.deepEqual(journalFiles(dir), []);
      });
    });
  });
}

describe('intake journal: files that name a running process', () => {
  it('are left alone, and each gets one warning at start naming the file and the pid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-intake-journal-live-'));
    const testStore = await SQLITE.createStore();
    let app: Awaited<ReturnType<typeof buildApp>> | undefined;
    try {
      // Two files of a live pid (the test runner: as after a pid reuse), with records in them.
      const journal = PointJournal.open(dir);
      journal.append(new Uint8Array([1, 2, 3]));
      journal.close(false);
      const [written] = journalFiles(dir);
      const bytes = readFileSync(join(dir, written!));
      rmSync(join(dir, written!));
      const live = process.ppid;
      const names = [`000000000000001-${live}-abcd1234-000000000.journal`, `000000000000002-${live}-abcd1234-000000001.journal`];
      for (const name of names) writeFileSync(join(dir, name), bytes);
      const lines: Array<{ level: number; msg: string; file?: string; pid?: number; writerPid?: number }> = [];
      const logger = createServerLogger({ level: 'warn', stream: { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) } });
      const hasher = createKeyHasher(await testStore.store.deploymentSecret());
      app = await buildApp({ store: testStore.store, hasher, logger, intake: { journalDir: dir } });
      await app.ready();
      const warnings = lines.filter((line) => /names a running process/.test(line.msg));
      assert.deepEqual(
        warnings.map(({ level, file, pid, writerPid }) => ({ level, file, pid, writerPid })),
        // `pid` is the logger's own (this process); the file's is `writerPid`. Both as `pid`, a JSON
        // parser kept the last one and log tools showed the warning as coming from the writer.
        names.map((name) => ({ level: 40, file: join(dir, name), pid: process.pid, writerPid: live })),
      );
      for (const name of names) assert.deepEqual(readFileSync(join(dir, name)), bytes, `${name} is left as it was`);
    } finally {
      await app?.close();
      await testStore.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
