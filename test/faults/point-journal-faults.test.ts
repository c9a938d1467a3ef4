/**
 * The intake journal and the point writer on a real tmpfs that runs out of bytes or inodes
 * (issue 14, rows 1–3 at the unit level; the whole server: intake-disk-full.test.ts):
 *   - a short write is cut back at once, so the records appended after it are recovered;
 *   - a rotation that cannot create its file keeps appending to the open one (the old code
 *     closed it first and kept the closed number);
 *   - a save whose rotation fails keeps every batch unsaved, and saves them all once the
 *     inodes return — no restart (the old code dropped them from memory first).
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KyselyPointStore } from '../../src/points/kysely-point-store.js';
import { PointJournal } from '../../src/points/point-journal.js';
import type { StoredSeries } from '../../src/points/point-store.js';
import { PointWriter } from '../../src/points/point-writer.js';
import { CLI_ACTOR, SQLITE } from '../support/dialects.js';
import { fillBytes, fillInodes, mountTmpfs } from './fault-support.js';

const record = (n: number, size: number) => new Uint8Array(Array.from({ length: size }, (_, i) => (i * 31 + n) & 255));
const bytesOf = (records: Uint8Array[]) => records.map((r) => Buffer.from(r).toString('hex'));

describe('the intake journal on a full tmpfs', () => {
  const mounts: Array<{ unmount(): void }> = [];
  after(() => mounts.forEach((m) => m.unmount()));
  const mount = (prefix: string, size: string, inodes: number) => {
    const m = mountTmpfs(prefix, size, inodes);
    mounts.push(m);
    return m.dir;
  };

  it('cuts a short write back to the last whole record, so what is appended after it is recovered', () => {
    const dir = join(mount('rekey-journal-short-', '256k', 100), 'journal');
    const journal = PointJournal.open(dir);
    journal.append(record(1, 2000));
    const filler = fillBytes(join(dir, '..'));
    // The file's first page has room for part of this record; the rest needs a page the disk no longer has.
    const codes: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        journal.append(record(2, 3000));
      } catch (error) {
        codes.push((error as NodeJS.ErrnoException).code);
      }
    }
    rmSync(filler);
    journal.append(record(3, 3000));
    journal.close(false);
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(bytesOf(recovered.records), bytesOf([record(1, 2000), record(3, 3000)]));
    assert.equal(recovered.dropped, 0, 'nothing torn is left in the file');
    assert.deepEqual(codes, ['ENOSPC', 'ENOSPC', 'ENOSPC'], 'the full disk refused every append that needed a new page');
  });

  it('opens and rotates on a disk with inodes but no bytes left, refuses appends there, and takes them again once bytes return', () => {
    const root = mount('rekey-journal-nobytes-', '256k', 100);
    const dir = join(root, 'journal');
    const filler = fillBytes(root);
    const journal = PointJournal.open(dir); // as a server starting on a full disk: creating a file needs no data block
    assert.throws(() => journal.append(record(1, 100)), { code: 'ENOSPC' });
    journal.rotate();
    assert.throws(() => journal.append(record(2, 100)), { code: 'ENOSPC' });
    rmSync(filler);
    journal.append(record(3, 100));
    journal.close(false);
    const recovered = PointJournal.recover(dir);
    assert.deepEqual(bytesOf(recovered.records), bytesOf([record(3, 100)]));
    assert.equal(recovered.dropped, 0);
  });

  it('keeps appending to the open file when a rotation cannot create the next one (no inodes)', () => {
    const root = mount('rekey-journal-inodes-', '4m', 64);
    const dir = join(root, 'journal');
    const journal = PointJournal.open(dir);
    journal.append(record(1, 100));
    const holder = fillInodes(root);
    assert.throws(() => journal.rotate(), { code: 'ENOSPC' });
    journal.append(record(2, 100)); // the old code wrote to a closed descriptor here (EBADF, or whatever reused it)
    rmSync(holder, { recursive: true });
    const finished = journal.rotate();
    journal.append(record(3, 100));
    assert.equal(finished.length, 1);
    journal.close(false);
    assert.deepEqual(bytesOf(PointJournal.recover(dir).records), bytesOf([record(1, 100), record(2, 100), record(3, 100)]));
  });

  it('saves every acknowledged batch once the inodes return, with no restart, when a save could not rotate the journal', async () => {
    const root = mount('rekey-writer-inodes-', '8m', 64);
    const dir = join(root, 'journal');
    const db = await SQLITE.createStore(); // the database elsewhere: only the journal's file system fails
    try {
      const orgId = (await db.store.createOrg('faults', CLI_ACTOR)).id;
      const store = new KyselyPointStore(db.store.sharedTables());
      const series = (ts: number): StoredSeries => ({ orgId, metric: 'rotate.fail', host: 'h', tags: [], type: 'gauge', interval: null, points: [[ts, ts]] });
      const saveErrors: unknown[] = [];
      const writer = new PointWriter(store, { journal: PointJournal.open(dir), saveIntervalMs: 3_600_000, onSaveError: (e) => saveErrors.push(e) });
      const now = Math.floor(Date.now() / 1000);
      await writer.write({ series: [series(now - 10)] });
      await writer.write({ series: [series(now - 9)] });
      const holder = fillInodes(root);
      await assert.rejects(writer.saveNow(), { code: 'ENOSPC' });
      // (Appends go on meanwhile: the test above. Here only the save's own bookkeeping is under test.)
      const unsaved = writer.unsavedPointCount;
      rmSync(holder, { recursive: true });
      await writer.saveNow();
      assert.deepEqual(
        (await store.queryPoints({ orgId, metric: 'rotate.fail', from: 0, to: now })).map((p) => p.ts),
        [now - 10, now - 9],
      );
      assert.equal(unsaved, 2, 'nothing left `unsaved` before it was in the database');
      assert.equal(saveErrors.length, 1, 'the failed save was reported');
      await writer.close();
      assert.deepEqual(readdirSync(dir), [], 'every saved file is deleted');
    } finally {
      await db.destroy();
    }
  });
});
