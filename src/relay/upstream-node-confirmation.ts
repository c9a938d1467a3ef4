/**
 * Step 3 of `rekey upstream rotate` (upstream-rotation.ts, docs/relay.md): before the old upstream
 * key is revoked, every live relay node must confirm it forwards with the new one. Each node
 * reports its upstream version per organisation after every read of the settings (its heartbeat:
 * upstream-directory.ts, migration 012); the version expected is `upstreamVersion` of what the
 * rotation stored — the same function the nodes use.
 *
 * Live, judged again at every look: the node's last report is at most 3 of its own poll intervals
 * old (REKEY_RELAY_POLL_MS, reported with it), 10 s at least — its window. Ages are the
 * database's: the store writes each report with the database's time and computes its age with it
 * (listRelayNodeUpstreams), so neither a node's clock nor this machine's is compared with another's.
 *
 * A node still on the old version whose report grows older than its window during the wait has
 * stopped reporting — crashed, cut off from the database, stopped — and is no longer waited for
 * (said once, with how long ago it last reported). Revoking the old key under it loses nothing:
 * a payload it then sends with the old key gets 401/403, and delivery.ts `answered()` puts the
 * payload back in its spool queue and holds that organisation's delivery (nothing is dropped or
 * marked delivered; the spool keeps it across a crash); `pump()`, called by the directory's
 * `onChange`, ends the hold as soon as the node's UpstreamDirectory reads the new key (at its next
 * poll or NOTIFY — or, after a crash, at its start: relay.ts reads the upstreams before delivery
 * begins), and a 401/403 to a request sent with a key since replaced is sent again at once with the
 * new one. Tested: test/relay/relay-faults.test.ts ("upstream key revoked: delivery holds …
 * resumes once rekey upstream set gives a working key"), test/relay/relay-hardening.test.ts ("a
 * working key set while payloads with the refused one are in flight"). A node whose window does
 * not run out within `--settle` (one paused 10 s window before a 3 s settle ends) is still waited
 * for, and the rotation stops with UPSTREAM_NODES_LAGGING as before.
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
  const windowOf = (row: RelayNodeUpstream) => Math.max(minWindowMs, 3 * row.pollMs);
  const deadline = Date.now() + options.settleMs;
  /** The nodes waited for at an earlier look (live, on the old version). */
  const waitedFor = new Set<string>();
  /** Those of them that stopped reporting since (each said once). */
  const stopped = new Set<string>();
  let said = false;
  for (;;) {
    // Every report the store still holds (it forgets a node an hour after its live window ended): a node
    // polling every 30 min is live for 90 min, so an hour's horizon here would not wait for it.
    const all = await store.listRelayNodeUpstreams(options.orgId);
    const rows = all.filter((row) => row.ageMs <= windowOf(row));
    for (const row of all) {
      if (row.ageMs <= windowOf(row)) {
        stopped.delete(row.nodeId); // reporting again: judged like any live node
      } else if (waitedFor.has(row.nodeId) && row.version !== expected && !stopped.has(row.nodeId)) {
        stopped.add(row.nodeId);
        options.say(
          `   relay node ${row.nodeId} stopped reporting ${formatDuration(row.ageMs)} ago (its window: ${formatDuration(windowOf(row))}); not waited for — if it forwards again with the old key …${journal.old_key.last4}, it holds its payloads until it reads the new one.`,
        );
      }
    }
    for (const id of stopped) if (!all.some((row) => row.nodeId === id)) stopped.delete(id); // its rows gone: it stopped gracefully
    const confirmed = rows.filter((row) => row.version === expected).map((row) => row.nodeId);
    const lagging = rows.filter((row) => row.version !== expected).map((row) => row.nodeId);
    for (const id of lagging) waitedFor.add(id);
    const notWaited =
      stopped.size === 0
        ? ''
        : `; ${plural(stopped.size, 'relay node')} stopped reporting and ${stopped.size === 1 ? 'was' : 'were'} not waited for (${[...stopped].join(', ')})`;
    if (rows.length === 0 && stopped.size === 0)
      return `no relay node reported recently (within ${formatDuration(minWindowMs)}, or 3 of its poll intervals), so none was waited for (no relay node running?)`;
    if (rows.length === 0) return `no live relay node left to confirm${notWaited}`;
    if (lagging.length === 0) return `confirmed by ${plural(confirmed.length, 'relay node')} (${confirmed.join(', ')})${notWaited}`;
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
