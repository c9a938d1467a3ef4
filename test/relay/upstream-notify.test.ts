/**
 * Upstream changes reach relay nodes at once, not at their next poll (issue 19: "switch the
 * relay to it on every node (PostgreSQL notification)"): on PostgreSQL another store instance
 * — another node, or the CLI — announces `setUpstream` with NOTIFY; on either dialect the
 * store's own process hears it after the commit. The directories here poll only every 10 min,
 * so anything they see within seconds came through the announcement.
 */
import assert from 'node:assert/strict';
import { after, describe, it, mock } from 'node:test';
import { UpstreamKeyCipher } from '../../src/relay/upstream-crypto.js';
import { UpstreamDirectory, upstreamVersion } from '../../src/relay/upstream-directory.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';
import { eventually } from './relay-support.js';

const NEVER_POLL_MS = 600_000;

async function setKey(store: Store, orgId: string, key: string): Promise<void> {
  const cipher = new UpstreamKeyCipher(await store.deploymentSecret());
  await store.setUpstream(
    orgId,
    {
      mode: 'relay',
      site: 'datadoghq.eu',
      urls: { metrics: null, logs: null, traces: null },
      encryptedApiKey: cipher.encrypt(orgId, key),
      apiKeyLast4: key.slice(-4),
    },
    CLI_ACTOR,
  );
}

for (const dialect of DIALECTS) {
  describe(`upstream changes reach the relay directory at once (${dialect.name})`, () => {
    const opened: TestStore[] = [];
    const directories: UpstreamDirectory[] = [];
    after(async () => {
      for (const directory of directories) directory.stop();
      await Promise.all(opened.map((db) => db.destroy()));
    });

    it('a change made through the same store is seen without waiting for the poll', async () => {
      const db = await dialect.createStore();
      opened.push(db);
      const org = await db.store.createOrg('relayed', CLI_ACTOR);
      await setKey(db.store, org.id, 'upstream-key-0001');
      const directory = new UpstreamDirectory(db.store, await db.store.deploymentSecret(), { pollMs: NEVER_POLL_MS });
      directories.push(directory);
      await directory.start();
      assert.equal(directory.get(org.id)?.apiKey, 'upstream-key-0001');
      await setKey(db.store, org.id, 'upstream-key-0002');
      await eventually(() => directory.get(org.id)?.apiKey === 'upstream-key-0002', 'the new key in the directory', 2_000);
    });

    it('with a node id, reports its upstream version after each read (the heartbeat), and forgets the node on close', async () => {
      const db = await dialect.createStore();
      opened.push(db);
      const org = await db.store.createOrg('relayed', CLI_ACTOR);
      const directory = new UpstreamDirectory(db.store, await db.store.deploymentSecret(), { pollMs: NEVER_POLL_MS, nodeId: 'node-test-1' });
      directories.push(directory);
      await directory.start();
      const rows = async () => (await db.store.listRelayNodeUpstreams(org.id)).map((r) => [r.nodeId, r.version]);
      assert.deepEqual(await rows(), [], 'no upstream, no report');
      await setKey(db.store, org.id, 'upstream-key-0001');
      const expected = upstreamVersion((await db.store.getUpstream(org.id))!);
      await eventually(async () => JSON.stringify(await rows()) === JSON.stringify([['node-test-1', expected]]), 'the reported version', 2_000);
      assert.equal(directory.get(org.id)?.version, expected, 'the version reported is the one the directory forwards with');
      assert.doesNotMatch(JSON.stringify(await rows()), /upstream-key/);
      await directory.close();
      assert.deepEqual(await rows(), [], 'a closed directory forgets its node');
    });

    it("a node whose clock is an hour behind reports with the database's time: its heartbeat is not an hour old", async () => {
      const db = await dialect.createStore();
      opened.push(db);
      const org = await db.store.createOrg('relayed', CLI_ACTOR);
      await setKey(db.store, org.id, 'upstream-key-0001');
      const directory = new UpstreamDirectory(db.store, await db.store.deploymentSecret(), { pollMs: NEVER_POLL_MS, nodeId: 'node-behind' });
      directories.push(directory);
      // The node's clock (Date and new Date() in this process) an hour behind while it starts and reports;
      // the database's clock (SQLite's and PostgreSQL's 'now', the OS's) is untouched.
      const realNow = Date.now();
      mock.timers.enable({ apis: ['Date'], now: realNow - 60 * 60_000 });
      try {
        await directory.start();
        assert.ok(Date.now() < realNow - 59 * 60_000, "the node's clock is an hour behind");
      } finally {
        mock.timers.reset();
      }
      const [row] = await db.store.listRelayNodeUpstreams(org.id);
      assert.equal(row?.nodeId, 'node-behind');
      // Judged by its own clock it had reported an hour ago: dead to a rotation, which then revoked the key it forwards with.
      assert.ok(Math.abs(row.reportedAt.getTime() - Date.now()) < 10_000, `reported at ${row.reportedAt.toISOString()}, not an hour ago`);
      assert.ok(row.ageMs >= 0 && row.ageMs < 10_000, `its report is ${row.ageMs} ms old by the database's clock`);
      await directory.close();
    });

    if (dialect.name === 'postgres') {
      it('a change made by another node (another store on the database) arrives through NOTIFY', async () => {
        const db = await dialect.createStore();
        opened.push(db);
        const org = await db.store.createOrg('relayed', CLI_ACTOR);
        await setKey(db.store, org.id, 'upstream-key-0001');
        const node = await db.openAnother();
        const directory = new UpstreamDirectory(node, await node.deploymentSecret(), { pollMs: NEVER_POLL_MS });
        directories.push(directory);
        await directory.start();
        assert.equal(directory.get(org.id)?.apiKeyLast4, '0001');
        const changed = new Promise<void>((resolve) => directory.onChange(resolve));
        const setAt = Date.now();
        await setKey(db.store, org.id, 'upstream-key-0002');
        await changed;
        process.stdout.write(`# another node's upstream change seen ${Date.now() - setAt} ms after the commit\n`);
        assert.equal(directory.get(org.id)?.apiKey, 'upstream-key-0002');
      });
    }
  });
}
