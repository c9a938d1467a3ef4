/**
 * Step 3 of `rekey upstream rotate` (upstream-rotation.ts, docs/relay.md): before the old upstream
 * key is revoked, every live relay node must confirm it forwards with the new one. Each node
 * reports its upstream version per organisation after every read of the settings (its heartbeat:
 * upstream-directory.ts, migration 012); the version expected is `upstreamVersion` of what the
 * rotation stored — the same function the nodes use. Live: when the wait began, its last report
 * was younger than 3 of its own poll intervals (REKEY_RELAY_POLL_MS, reported with it), 10 s at
 * least; or it reported during the wait. Ages are the database's: the store writes each report
 * with the database's time and computes its age with it (listRelayNodeUpstreams), so neither a
 * node's clock nor this machine's is compared with another's.
 */
import { rekeyError } from '../errors.js';
import { formatDuration } from '../rotate/duration.js';
import { upstreamVersion } from './upstream-directory.js';
import type { RelayNodeUpstream } from '../store/store.js';
import type { UpstreamRotationJournalData, UpstreamRotationOptions } from './upstream-rotation.js';

/** A node is live while its last report is younger than 3 of its poll intervals, and never less than this. */
export const DEFAULT_MIN_LIVE_WINDOW_MS = 10_000;

/**
 * Waits until every live relay node reports the new key's version (step 3 of upstream-rotation.ts);
 * returns what to say. Throws UPSTREAM_NODES_LAGGING at `settleMs` (the caller leaves the journal at `switched`).
 */
export async function confirmNodes(
  options: Pick<UpstreamRotationOptions, 'store' | 'orgId' | 'settleMs' | 'minLiveWindowMs' | 'confirmPollMs' | 'say'>,
  journal: Pick<UpstreamRotationJournalData, 'new_key' | 'old_key'>,
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
  const minWindowMs = options.minLiveWindowMs ?? DEFAULT_MIN_LIVE_WINDOW_MS;
  const startedAt = Date.now();
  // The nodes live when the wait began (each by its own poll interval), and any node that reports during it: each must confirm.
  // A report's age is the database's (its clock wrote the report and measures the age), never this machine's
  // clock against a node's; only the time waited so far is measured here (a duration, on one clock).
  const live = (row: RelayNodeUpstream) => row.ageMs - (Date.now() - startedAt) <= Math.max(minWindowMs, 3 * row.pollMs);
  const deadline = startedAt + options.settleMs;
  let said = false;
  for (;;) {
    // Every report the store still holds (it forgets a node an hour after its live window ended): a node
    // polling every 30 min is live for 90 min, so an hour's horizon here would not wait for it.
    const rows = (await store.listRelayNodeUpstreams(options.orgId)).filter(live);
    const confirmed = rows.filter((row) => row.version === expected).map((row) => row.nodeId);
    const lagging = rows.filter((row) => row.version !== expected).map((row) => row.nodeId);
    if (rows.length === 0)
      return `no relay node reported recently (within ${formatDuration(minWindowMs)}, or 3 of its poll intervals), so none was waited for (no relay node running?)`;
    if (lagging.length === 0) return `confirmed by ${plural(confirmed.length, 'relay node')} (${confirmed.join(', ')})`;
    if (Date.now() >= deadline) {
      throw rekeyError('UPSTREAM_NODES_LAGGING', {
        lagging: lagging.join(', '),
        confirmed: confirmed.length,
        live: rows.length,
        waited: formatDuration(options.settleMs),
        newLast4: newKey.last4,
        oldLast4: journal.old_key.last4,
      });
    }
    if (!said) {
      options.say(
        `   waiting for ${plural(lagging.length, 'relay node')} to switch to key …${newKey.last4} (${lagging.join(', ')}); at most ${formatDuration(options.settleMs)}.`,
      );
      said = true;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.confirmPollMs ?? 200, Math.max(1, deadline - Date.now()))));
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
