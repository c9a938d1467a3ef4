import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
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
