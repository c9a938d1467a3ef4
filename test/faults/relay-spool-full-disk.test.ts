/**
 * The relay's spool writes the payloads accepted in one event-loop turn with one write(), and
 * the `delivered` marks of one turn as one record (src/relay/relay-spool.ts: group commit), on
 * a real tmpfs that runs out of bytes:
 *   - a batch the disk cannot take is refused whole: none of its payloads is acknowledged or
 *     recovered, though the first alone fits (and is taken when sent alone) — no payload is
 *     acknowledged that was not written;
 *   - marks the disk refuses wait in memory (nothing is re-sent meanwhile) and are written
 *     with the next marks, as one record, once there is room.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PointJournal } from '../../src/points/point-journal.js';
import { RelaySpool } from '../../src/relay/relay-spool.js';
import { decodeAcks, newPayloadId, type SpooledPayload } from '../../src/relay/spool-record.js';
import { fillBytes, mountTmpfs } from './fault-support.js';

function payload(bytes: number, fill: number): SpooledPayload {
  return {
    id: newPayloadId(),
    orgId: 'org-a',
    kind: 'metrics',
    path: '/api/v2/series',
    headers: [['content-type', 'application/json']],
    receivedAt: Date.now(),
    body: Buffer.alloc(bytes, fill),
  };
}

/** How each promise settled: 'written' or the error code. */
const outcomes = (promises: Array<Promise<unknown>>) =>
  Promise.all(
    promises.map((p) =>
      p.then(
        () => 'written',
        (error: NodeJS.ErrnoException) => error.code ?? String(error),
      ),
    ),
  );

describe('the relay spool on a full tmpfs: batched writes', () => {
  const mounts: Array<{ unmount(): void }> = [];
  after(() => mounts.forEach((m) => m.unmount()));
  const mount = (prefix: string) => {
    const m = mountTmpfs(prefix, '256k', 100);
    mounts.push(m);
    return m.dir;
  };

  it('a batch the disk cannot take is refused whole: nothing of it acknowledged or recovered, though its first payload alone fits', async () => {
    const root = mount('rekey-relay-spool-batch-');
    const dir = join(root, 'spool');
    const { spool } = RelaySpool.open(dir, { maxBytes: 10_000_000 });
    const first = payload(100, 0x61);
    assert.deepEqual(await outcomes([spool.accept(first)]), ['written']);
    const filler = fillBytes(root); // the journal file's first page still has room for ~3.7 KB, no page more
    // Accepted in one turn: one write of ~1 KB + ~5 KB, which needs a page the disk no longer has.
    const small = payload(1000, 0x62);
    const large = payload(5000, 0x63);
    assert.deepEqual(await outcomes([spool.accept(small), spool.accept(large)]), ['ENOSPC', 'ENOSPC'], 'the whole batch refused');
    assert.equal(spool.count, 1, 'only the first payload is in the spool');
    // The same small payload alone fits in the page: the batch was refused because it was one write.
    const alone = payload(1000, 0x64);
    assert.deepEqual(await outcomes([spool.accept(alone)]), ['written']);
    rmSync(filler);
    const later = payload(5000, 0x65);
    assert.deepEqual(await outcomes([spool.accept(later)]), ['written'], 'room again: taken');
    assert.equal(spool.count, 3);
    spool.close();
    const { spool: reopened, recovered } = RelaySpool.open(dir, { maxBytes: 10_000_000 });
    reopened.close();
    assert.deepEqual(
      recovered.payloads.map((p) => [p.id, p.body.toString('hex')]),
      [first, alone, later].map((p) => [p.id, p.body.toString('hex')]),
      'recovered: exactly the payloads written, byte for byte, in order',
    );
    assert.equal(recovered.tornRecords, 0, 'the refused batch was cut back: nothing torn left');
  });

  it('marks the disk refuses wait, and go with the next marks as one record once there is room', async () => {
    const root = mount('rekey-relay-spool-marks-');
    const dir = join(root, 'spool');
    const { spool } = RelaySpool.open(dir, { maxBytes: 10_000_000 });
    const payloads = [payload(100, 1), payload(100, 2), payload(100, 3)];
    assert.deepEqual(await outcomes(payloads.map((p) => spool.accept(p))), ['written', 'written', 'written']);
    const filler = fillBytes(root); // the `delivered` journal has no page yet: its first record needs one
    assert.deepEqual(await Promise.all([spool.done(payloads[0]!), spool.done(payloads[1]!)]), [false, false], 'the marks could not be written');
    assert.equal(spool.count, 1, 'delivered payloads leave the spool at once; they are not sent again from memory');
    assert.equal(PointJournal.recover(join(dir, 'delivered')).records.length, 0, 'no mark on disk yet: a crash now would send them again');
    rmSync(filler);
    assert.equal(await spool.done(payloads[2]!), true);
    const marks = PointJournal.recover(join(dir, 'delivered')).records;
    assert.equal(marks.length, 1, 'one record: the waiting marks went with the next one');
    assert.deepEqual(decodeAcks(marks[0]!).sort(), payloads.map((p) => p.id).sort());
    spool.close();
    const { spool: reopened, recovered } = RelaySpool.open(dir, { maxBytes: 10_000_000 });
    reopened.close();
    assert.deepEqual(recovered.payloads, [], 'every payload marked: none sent again after a restart');
  });
});
