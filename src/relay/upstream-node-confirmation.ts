/**
 * Step 3 of `rekey upstream rotate` (upstream-rotation.ts, docs/relay.md): before the old upstream
 * key is revoked, every live relay node must confirm it forwards with the new one. Each node
 * reports its upstream version per organisation after every read of the settings (its heartbeat:
 * upstream-directory.ts, migration 012); the version expected is `upstreamVersion` of what the
 * rotation stored — the same function the nodes use. Live: reported within the last 10 s (or
 * 3 × REKEY_RELAY_POLL_MS if longer) when the wait began, or during it.
 */
import { rekeyError } from '../errors.js';
import { upstreamVersion } from './upstream-directory.js';
import type { UpstreamRotationJournalData, UpstreamRotationOptions } from './upstream-rotation.js';

/**
 * Waits until every live relay node reports the new key's version (step 3 of upstream-rotation.ts);
 * returns what to say. Throws UPSTREAM_NODES_LAGGING at `settleMs` (the caller leaves the journal at `switched`).
 */
export async function confirmNodes(
  options: Pick<UpstreamRotationOptions, 'store' | 'orgId' | 'settleMs' | 'liveWindowMs' | 'confirmPollMs' | 'say'>,
  journal: Pick<UpstreamRotationJournalData, 'new_key' | 'old_key'>,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const { store } = options;
  const newKey = journal.new_key!;
  const stored = await store.getUpstream(options.orgId);
  if (stored === undefined || stored.encryptedApiKey !== newKey.encrypted) {
    throw rekeyError('UPSTREAM_ROTATION_FAILED', {
      step: 'confirm',
      detail: `the relay's stored upstream key is no longer the new key …${newKey.last4} (changed by another command meanwhile?); the old key …${journal.old_key.last4} was not revoked`,
    });
  }
  const expected = upstreamVersion(stored);
  const pollMs = Number(env.REKEY_RELAY_POLL_MS?.trim() || 2000);
  const windowMs = options.liveWindowMs ?? Math.max(10_000, 3 * (Number.isFinite(pollMs) ? pollMs : 2000));
  const windowText = `${Math.round(windowMs / 100) / 10} s`;
  const startedAt = Date.now();
  // The nodes live when the wait began, and any node that reports during it: each must confirm.
  const since = new Date(startedAt - windowMs);
  const deadline = startedAt + options.settleMs;
  let said = false;
  for (;;) {
    const rows = await store.listRelayNodeUpstreams(options.orgId, since);
    const confirmed = rows.filter((row) => row.version === expected).map((row) => row.nodeId);
    const lagging = rows.filter((row) => row.version !== expected).map((row) => row.nodeId);
    if (rows.length === 0) return `no relay node reported in the last ${windowText}, so none was waited for (no relay node running?)`;
    if (lagging.length === 0) return `confirmed by ${plural(confirmed.length, 'relay node')} (${confirmed.join(', ')})`;
    if (Date.now() >= deadline) {
      throw rekeyError('UPSTREAM_NODES_LAGGING', {
        lagging: lagging.join(', '),
        confirmed: confirmed.length,
        live: rows.length,
        waited: `${Math.round(options.settleMs / 100) / 10} s`,
        newLast4: newKey.last4,
        oldLast4: journal.old_key.last4,
      });
    }
    if (!said) {
      options.say(
        `   waiting for ${plural(lagging.length, 'relay node')} to switch to key …${newKey.last4} (${lagging.join(', ')}); at most ${Math.round(options.settleMs / 100) / 10} s.`,
      );
      said = true;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.confirmPollMs ?? 200, Math.max(1, deadline - Date.now()))));
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
