import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostSighting } from '../points/point-store.js';
import { HostSightings } from './host-sightings.js';

const sighting = (over: Partial<HostSighting> = {}): HostSighting => ({
  orgId: 'o',
  host: 'web-1',
  firstSeen: 1000,
  lastSeen: 1000,
  agentVersion: null,
  metadata: null,
  ...over,
});

describe('host sightings', () => {
  it('merge per (org, host) in memory and write nothing until flushed', async () => {
    const written: HostSighting[][] = [];
    const sightings = new HostSightings({ write: async (hosts) => void written.push(hosts) });
    sightings.record(sighting({ firstSeen: 2000, lastSeen: 2000 }));
    sightings.record(sighting({ firstSeen: 1000, lastSeen: 1500, agentVersion: '7.50.0' }));
    sightings.record(sighting({ firstSeen: 3000, lastSeen: 3000, metadata: '{"a":1}' }));
    sightings.record(sighting({ orgId: 'other' }));
    assert.equal(written.length, 0);
    await sightings.flush();
    assert.deepEqual(written, [
      [
        { orgId: 'o', host: 'web-1', firstSeen: 1000, lastSeen: 3000, agentVersion: '7.50.0', metadata: '{"a":1}' },
        { orgId: 'other', host: 'web-1', firstSeen: 1000, lastSeen: 1000, agentVersion: null, metadata: null },
      ],
    ]);
    await sightings.flush();
    assert.equal(written.length, 1, 'nothing pending, nothing written');
  });

  it('keep what a failed write held, merged with newer sightings, and report the failure to the reader', async () => {
    let fail = true;
    const written: HostSighting[][] = [];
    const errors: unknown[] = [];
    const sightings = new HostSightings({
      write: async (hosts) => {
        if (fail) throw new Error('database down');
        written.push(hosts);
      },
      onError: (error) => errors.push(error),
    });
    sightings.record(sighting({ lastSeen: 1000 }));
    await assert.rejects(sightings.flush(), /database down/);
    sightings.record(sighting({ lastSeen: 5000 }));
    fail = false;
    await sightings.close();
    assert.equal(errors.length, 1);
    assert.deepEqual(
      written.map((batch) => batch.map((h) => [h.host, h.firstSeen, h.lastSeen])),
      [[['web-1', 1000, 5000]]],
    );
  });

  it('write on their own once per interval', async () => {
    const written: HostSighting[][] = [];
    const sightings = new HostSightings({ write: async (hosts) => void written.push(hosts), intervalMs: 30 });
    sightings.start();
    sightings.record(sighting());
    const deadline = Date.now() + 5000;
    while (written.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await sightings.close();
    assert.equal(written.length, 1);
  });
});
