import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import { isRekeyError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { upstreamVersion } from './upstream-directory.js';
import { confirmNodes } from './upstream-node-confirmation.js';

const CLI = { userId: null, kind: 'cli' as const, sourceIp: null };
const URLS = { metrics: null, logs: null, traces: null };

describe('confirmNodes: the rotation waits for every live relay node to report the new key (real SQLite store)', () => {
  let dir: string;
  let store: Store;
  let orgId = '';
  let newVersion = '';
  const journal = {
    new_key: { id: 'n1', last4: 'NEW1', encrypted: 'v1:new-ciphertext' },
    old_key: { id: 'o1', last4: 'OLD1', encrypted: 'v1:old-ciphertext' },
  };
  const oldVersion = upstreamVersion({ site: 'datadoghq.eu', urls: URLS, encryptedApiKey: journal.old_key.encrypted });
  const lines: string[] = [];
  const options = (settleMs: number) => ({ store, orgId, settleMs, confirmPollMs: 20, say: (line: string) => lines.push(line) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-confirm-'));
    store = await openStore({ dataDir: dir });
    orgId = (await store.createOrg('relayed', CLI)).id;
    const stored = await store.setUpstream(
      orgId,
      { mode: 'relay', site: 'datadoghq.eu', urls: URLS, encryptedApiKey: journal.new_key.encrypted, apiKeyLast4: 'NEW1' },
      CLI,
    );
    newVersion = upstreamVersion(stored);
  });
  after(async () => {
    await (store as Store & { close(): Promise<void> }).close();
    rmSync(dir, { recursive: true, force: true });
  });
  // Each test's nodes are forgotten after it, passed or failed: a node left behind would be waited for by the next.
  afterEach(async () => {
    for (const { nodeId } of await store.listRelayNodeUpstreams(orgId)) await store.reportRelayNodeUpstreams({ id: nodeId, pollMs: 100 }, []);
  });

  it('with no node reporting recently, waits for none and says so (a node silent for longer is not live)', async () => {
    await store.reportRelayNodeUpstreams({ id: 'gone-1', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 11_000 });
    assert.match(
      await confirmNodes(options(5_000), journal),
      /^no relay node reported recently \(within 10s, or 3 of its poll intervals\), so none was waited for/,
    );
    await store.reportRelayNodeUpstreams({ id: 'gone-1', pollMs: 100 }, []);
  });

  it('a node with a long poll interval is live for 3 of its intervals: waited for though it reported 20 s ago', async () => {
    await store.reportRelayNodeUpstreams({ id: 'slow-1', pollMs: 10_000 }, [{ orgId, version: oldVersion }], { backdateMs: 20_000 });
    await assert.rejects(
      confirmNodes(options(200), journal),
      (error: unknown) => isRekeyError(error, 'UPSTREAM_NODES_LAGGING') && /slow-1/.test(String(error)),
    );
    await store.reportRelayNodeUpstreams({ id: 'slow-1', pollMs: 10_000 }, []);
  });

  it('a node polling every 30 min is live for 90: waited for though it reported 70 min ago (beyond an hour)', async () => {
    await store.reportRelayNodeUpstreams({ id: 'slow-2', pollMs: 30 * 60_000 }, [{ orgId, version: oldVersion }], { backdateMs: 70 * 60_000 });
    await assert.rejects(
      confirmNodes(options(200), journal),
      (error: unknown) => isRekeyError(error, 'UPSTREAM_NODES_LAGGING') && /slow-2/.test(String(error)),
    );
    await store.reportRelayNodeUpstreams({ id: 'slow-2', pollMs: 30 * 60_000 }, []);
  });

  it('refuses at settleMs, naming only the nodes still on the old version; then resolves once they switch, naming all', async () => {
    await store.reportRelayNodeUpstreams({ id: 'node-a', pollMs: 100 }, [{ orgId, version: newVersion }]);
    await store.reportRelayNodeUpstreams({ id: 'node-b', pollMs: 100 }, [{ orgId, version: oldVersion }]);
    const started = Date.now();
    await assert.rejects(confirmNodes(options(300), journal), (error: unknown) => {
      assert.ok(isRekeyError(error, 'UPSTREAM_NODES_LAGGING'), String(error));
      assert.match(
        (error as Error).message,
        /relay node\(s\) node-b did not report forwarding with the new upstream key …NEW1 within 300ms \(1 of 2 live nodes did\); the old key …OLD1 was not revoked/,
      );
      return true;
    });
    assert.ok(Date.now() - started >= 300);
    assert.match(lines.at(-1)!, /waiting for 1 relay node to switch to key …NEW1 \(node-b\); at most 300ms\./);
    setTimeout(() => void store.reportRelayNodeUpstreams({ id: 'node-b', pollMs: 100 }, [{ orgId, version: newVersion }]), 200);
    assert.equal(await confirmNodes(options(5_000), journal), 'confirmed by 2 relay nodes (node-a, node-b)');
    for (const id of ['node-a', 'node-b']) await store.reportRelayNodeUpstreams({ id, pollMs: 100 }, []);
  });

  it('a node that stops reporting during the wait is no longer waited for once its window passes: completes within the settle time, and says so', async () => {
    // node-live keeps reporting the new version; node-crashed last reported (the old version) 9.5 s ago, so
    // it is live — and lagging — when the wait begins, and silent for longer than its 10 s window half a second later.
    await store.reportRelayNodeUpstreams({ id: 'node-crashed', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 9_500 });
    const beat = () => store.reportRelayNodeUpstreams({ id: 'node-live', pollMs: 100 }, [{ orgId, version: newVersion }]);
    await beat();
    const heartbeat = setInterval(() => void beat(), 100);
    const said = lines.length;
    const started = Date.now();
    try {
      assert.equal(
        await confirmNodes(options(10_000), journal),
        'confirmed by 1 relay node (node-live); 1 relay node stopped reporting and was not waited for (node-crashed)',
      );
    } finally {
      clearInterval(heartbeat);
    }
    const took = Date.now() - started;
    assert.ok(took >= 400 && took < 5_000, `completed once node-crashed's window passed (${took} ms), not at the 10 s settle`);
    assert.match(lines[said]!, /waiting for 1 relay node to switch to key …NEW1 \(node-crashed\)/);
    assert.match(
      lines[said + 1]!,
      /relay node node-crashed stopped reporting 1\ds ago \(its window: 10s\); not waited for — if it forwards again with the old key …OLD1, it holds its payloads until it reads the new one\./,
    );
    for (const id of ['node-live', 'node-crashed']) await store.reportRelayNodeUpstreams({ id, pollMs: 100 }, []);
  });

  it('every lagging node stopped: nothing left to wait for, and the line names them', async () => {
    await store.reportRelayNodeUpstreams({ id: 'node-crashed', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 9_700 });
    assert.equal(
      await confirmNodes(options(10_000), journal),
      'no live relay node left to confirm; 1 relay node stopped reporting and was not waited for (node-crashed)',
    );
    await store.reportRelayNodeUpstreams({ id: 'node-crashed', pollMs: 100 }, []);
  });

  it('a node judged stopped that reports again (paused, then resumed) on the old version is waited for again: lagging at the settle time', async () => {
    // node-other keeps the wait going (live, on the old version); node-paused is judged stopped, then reports again.
    await store.reportRelayNodeUpstreams({ id: 'node-other', pollMs: 100 }, [{ orgId, version: oldVersion }]);
    await store.reportRelayNodeUpstreams({ id: 'node-paused', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 9_700 });
    const said = lines.length;
    const resumed = (async () => {
      const giveUp = Date.now() + 5_000;
      while (!lines.slice(said).some((line) => line.includes('node-paused stopped reporting'))) {
        if (Date.now() > giveUp) assert.fail('node-paused was never judged stopped');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await store.reportRelayNodeUpstreams({ id: 'node-paused', pollMs: 100 }, [{ orgId, version: oldVersion }]);
    })();
    await assert.rejects(confirmNodes(options(2_000), journal), (error: unknown) => {
      assert.ok(isRekeyError(error, 'UPSTREAM_NODES_LAGGING'), String(error));
      assert.match((error as Error).message, /relay node\(s\) node-other, node-paused did not report .* \(0 of 2 live nodes did\)/);
      return true;
    });
    await resumed;
    for (const id of ['node-other', 'node-paused']) await store.reportRelayNodeUpstreams({ id, pollMs: 100 }, []);
  });

  it('a node whose window does not pass within the settle time is still waited for: UPSTREAM_NODES_LAGGING as before', async () => {
    await store.reportRelayNodeUpstreams({ id: 'node-stuck', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 5_000 });
    const said = lines.length;
    await assert.rejects(
      confirmNodes(options(1_000), journal),
      (error: unknown) => isRekeyError(error, 'UPSTREAM_NODES_LAGGING') && /node-stuck did not report/.test(String(error)),
    );
    assert.ok(!lines.slice(said).some((line) => /stopped reporting/.test(line)), lines.slice(said).join('\n'));
    await store.reportRelayNodeUpstreams({ id: 'node-stuck', pollMs: 100 }, []);
  });

  it("judges a report's age by the database's clock, not the rotating machine's: its clock an hour off either way changes nothing", async () => {
    await store.reportRelayNodeUpstreams({ id: 'skew-live', pollMs: 100 }, [{ orgId, version: oldVersion }]);
    await store.reportRelayNodeUpstreams({ id: 'skew-gone', pollMs: 100 }, [{ orgId, version: oldVersion }], { backdateMs: 11_000 });
    const realNow = Date.now.bind(Date);
    for (const skewMs of [60 * 60_000, -60 * 60_000]) {
      // Only this process's clock is moved (SQLite's and PostgreSQL's 'now' are the OS's, not Date.now).
      const skewed = mock.method(Date, 'now', () => realNow() + skewMs);
      try {
        // Ahead, a machine comparing its own clock took the live node for dead and waited for nobody;
        // behind, it took the node dead for 11 s for live. Either way: skew-live alone is waited for.
        await assert.rejects(confirmNodes(options(200), journal), (error: unknown) => {
          assert.ok(isRekeyError(error, 'UPSTREAM_NODES_LAGGING'), `clock ${skewMs > 0 ? 'ahead' : 'behind'}: ${String(error)}`);
          assert.match((error as Error).message, /relay node\(s\) skew-live did not report .* \(0 of 1 live nodes did\)/);
          return true;
        });
      } finally {
        skewed.mock.restore();
      }
    }
    await store.reportRelayNodeUpstreams({ id: 'skew-live', pollMs: 100 }, []);
    await store.reportRelayNodeUpstreams({ id: 'skew-gone', pollMs: 100 }, []);
  });

  it('refuses when the stored key is no longer the new one (changed by another command)', async () => {
    await store.setUpstream(orgId, { mode: 'relay', site: 'datadoghq.eu', urls: URLS, encryptedApiKey: 'v1:other', apiKeyLast4: 'OTHR' }, CLI);
    await assert.rejects(
      confirmNodes(options(1_000), journal),
      (error: unknown) => isRekeyError(error, 'UPSTREAM_ROTATION_FAILED') && /step "confirm"/.test((error as Error).message),
    );
  });
});
