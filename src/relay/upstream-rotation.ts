/**
 * `rekey upstream rotate` (issue 19, docs/relay.md): replaces the upstream API key the relay
 * holds — the seed's procedure, for the one key that still lives in Datadog — without touching
 * an agent and without a moment where the upstream organisation has no working key:
 *
 *   1. created    a new API key is created upstream (`POST /api/v2/api_keys`, with the current
 *                 upstream key and an application key of the upstream organisation), and the
 *                 relay waits until the upstream accepts it (`GET /api/v1/validate`: Datadog
 *                 takes a moment to spread a new key);
 *   2. switched   the relay's stored upstream key is replaced (encrypted, as `rekey upstream
 *                 set` does); every relay node picks it up within its poll interval, and a
 *                 delivery held or backing off on the old key starts again at once;
 *   3. verified   a real payload (a service check, `POST /api/v1/check_run`) is accepted with the
 *                 new key, and every live relay node confirmed it forwards with it: each node
 *                 reports its upstream version after every read of the settings (its heartbeat,
 *                 migration 012, upstream-directory.ts); every live node (its last report
 *                 younger than 3 of its poll intervals, 10 s at least) must report the new
 *                 key's version (`upstreamVersion` of what was stored) within `settleMs`, else
 *                 UPSTREAM_NODES_LAGGING names the lagging nodes, the old key is kept and the
 *                 journal stays at `switched` (`--resume` waits again). No live node: nothing to
 *                 wait for, said so;
 *   4. revoked    the old key is revoked upstream (`DELETE /api/v2/api_keys/{id}`; its id found
 *                 by listing the keys and matching its last 4 characters), only after checking
 *                 that the new key is listed and active — never zero keys;
 *   5. completed.
 *
 * Journaled like `rekey rotate` (src/rotate/journal.ts): each step is written atomically
 * (src/config/atomic-write.ts) before the next begins, so `--resume` after a crash continues
 * from the last step done, never creates a second key (a key created by a run killed before it
 * could record it is found by its name and revoked), and a second rotation while one is
 * unfinished is refused. The journal holds the new key only encrypted under the deployment
 * secret (upstream-crypto.ts), and not at all once the rotation completes. No key is ever
 * printed, logged or put in an error: at most its last 4 characters.
 *
 * Test hook: REKEY_UPSTREAM_ROTATE_PAUSE_AFTER=<step> makes the command stop after journaling
 * that step (or `create-request`: after the key was created upstream but before it was
 * journaled) and wait to be killed — how the tests crash it at a precise point.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '../config/atomic-write.js';
import { rekeyError } from '../errors.js';
import { DatadogClient, type ApiKey } from '../rotate/datadog-client.js';
import type { Actor, Store } from '../store/store.js';
import { UpstreamKeyCipher } from './upstream-crypto.js';
import { confirmNodes } from './upstream-node-confirmation.js';
import { upstreamUrls } from './upstream-site.js';

export type UpstreamRotationStep = 'planned' | 'creating_key' | 'created' | 'switched' | 'verified' | 'revoked' | 'completed';

export interface UpstreamRotationJournalData {
  version: 1;
  kind: 'upstream-rotation';
  rotation_id: string;
  org_id: string;
  org_name: string;
  step: UpstreamRotationStep;
  started_at: string;
  updated_at: string;
  /** The upstream's API base (its metrics URL), where keys are managed and checked. */
  api_url: string;
  /** The key being replaced: its id upstream and last 4 characters; the stored ciphertext, to switch back to if the new key fails. */
  old_key: { id: string; last4: string; encrypted: string };
  /** The name the new key is created under, journaled BEFORE the create request so a crash in between is detectable. */
  new_key_name: string;
  /** The new key; `encrypted` (under the deployment secret) only while the rotation is unfinished. */
  new_key?: { id: string; last4: string; encrypted?: string };
  notes: string[];
  completed_at?: string;
}

export interface UpstreamRotationOptions {
  store: Store;
  orgId: string;
  orgName: string;
  appKey: string;
  journalPath: string;
  resume: boolean;
  /** At most this long for every live relay node to confirm it forwards with the new key (else the old key is kept). */
  settleMs: number;
  /** A node is live while its last report is younger than 3 of its poll intervals and at least this (default 10 s). */
  minLiveWindowMs?: number;
  /** How often the nodes' reports are read while waiting (default 200 ms). */
  confirmPollMs?: number;
  /** How long the new key may take to be accepted upstream. */
  acceptTimeoutMs: number;
  actor: Actor;
  /** Progress lines (never a key). */
  say: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Every key a rotation creates is named `<prefix><rotation id>`: how unfinished rotations are recognised upstream. */
const KEY_NAME_PREFIX = 'rekey relay upstream ';

const STEP_ORDER: UpstreamRotationStep[] = ['planned', 'creating_key', 'created', 'switched', 'verified', 'revoked', 'completed'];

/** Runs (or resumes) the rotation to the end; returns the completed journal. */
export async function rotateUpstreamKey(options: UpstreamRotationOptions): Promise<UpstreamRotationJournalData> {
  const { store, say } = options;
  const cipher = new UpstreamKeyCipher(await store.deploymentSecret());
  const env = options.env ?? process.env;
  const pauseAfter = env.REKEY_UPSTREAM_ROTATE_PAUSE_AFTER?.trim();
  const existing = readJournal(options.journalPath);
  let journal: UpstreamRotationJournalData;
  if (existing !== undefined && existing.step !== 'completed') {
    if (!options.resume) throw rekeyError('ROTATION_IN_PROGRESS', { journal: options.journalPath });
    if (existing.org_id !== options.orgId)
      throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: options.journalPath, detail: `it rotates organization ${existing.org_name}, not this one` });
    journal = existing;
    say(`Resuming upstream rotation ${journal.rotation_id} after step "${journal.step}" (journal ${options.journalPath}).`);
  } else {
    if (options.resume) throw rekeyError('ROTATION_NOTHING_TO_RESUME', { journal: options.journalPath });
    journal = await plan(options, cipher);
    save(options.journalPath, journal);
    say(
      `Upstream rotation ${journal.rotation_id} for organization "${options.orgName}": replacing upstream key …${journal.old_key.last4} at ${journal.api_url} (journal ${options.journalPath}).`,
    );
  }
  if ((await store.getUpstream(options.orgId)) === undefined) throw rekeyError('UPSTREAM_NOT_SET', { org: options.orgName });
  const oldKey = cipher.decrypt(options.orgId, journal.old_key.encrypted);
  const client = new DatadogClient({ url: journal.api_url, apiKey: oldKey, appKey: options.appKey });
  const pause = async (step: string) => {
    if (pauseAfter !== step) return;
    process.stderr.write(`rekey upstream rotate: paused after step "${step}" (REKEY_UPSTREAM_ROTATE_PAUSE_AFTER)\n`);
    await new Promise<never>(() => setInterval(() => {}, 60_000));
  };
  const at = (step: UpstreamRotationStep) => STEP_ORDER.indexOf(journal.step) >= STEP_ORDER.indexOf(step);
  const advance = (step: UpstreamRotationStep, mutate: (data: UpstreamRotationJournalData) => void = () => {}) => {
    mutate(journal);
    journal.step = step;
    save(options.journalPath, journal);
  };

  // 1. Create the new key (after revoking any key a killed run created but did not record).
  if (!at('created')) {
    if (journal.step === 'creating_key') {
      const orphans = (await client.listApiKeys()).filter((key) => key.active && key.name === journal.new_key_name);
      for (const orphan of orphans) {
        await client.revokeApiKey(orphan.id);
        advance('creating_key', (data) =>
          data.notes.push(`revoked key …${orphan.last4} (${orphan.id}), created by an interrupted run before it could be recorded`),
        );
        say(`Revoked key …${orphan.last4}, created upstream by an interrupted run before it was recorded.`);
      }
    }
    advance('creating_key');
    await pause('creating_key');
    const created = await client.createApiKey(journal.new_key_name);
    await pause('create-request');
    advance('created', (data) => {
      data.new_key = { id: created.id, last4: created.last4 || created.key.slice(-4), encrypted: cipher.encrypt(options.orgId, created.key) };
    });
    say(`1/4 created upstream key …${journal.new_key!.last4} (${journal.new_key!.id}) "${journal.new_key_name}".`);
    await pause('created');
  }
  const newKey = journal.new_key?.encrypted === undefined ? undefined : cipher.decrypt(options.orgId, journal.new_key.encrypted);
  if (newKey === undefined || journal.new_key === undefined)
    throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: options.journalPath, detail: 'it records no new key' });

  // 2. Switch the relay to it, once the upstream accepts it.
  if (!at('switched')) {
    await waitAccepted(journal.api_url, newKey, options.acceptTimeoutMs);
    const current = await store.getUpstream(options.orgId);
    if (current === undefined) throw rekeyError('UPSTREAM_NOT_SET', { org: options.orgName });
    await store.setUpstream(
      options.orgId,
      { mode: current.mode, site: current.site, urls: current.urls, encryptedApiKey: journal.new_key.encrypted!, apiKeyLast4: journal.new_key.last4 },
      options.actor,
    );
    advance('switched');
    say(
      `2/4 the relay now forwards with upstream key …${journal.new_key.last4}; every node picks it up at once by NOTIFY on PostgreSQL, else within its poll interval (REKEY_RELAY_POLL_MS, 2 s by default).`,
    );
    await pause('switched');
  }

  // 3. Verify a real payload is accepted with it, and give the nodes time to switch.
  if (!at('verified')) {
    try {
      await sendCheck(journal.api_url, newKey, journal.rotation_id, options.acceptTimeoutMs);
    } catch (error) {
      // The new key does not carry payloads: put the relay back on the old key (still valid), keep the journal.
      const current = await store.getUpstream(options.orgId);
      if (current !== undefined) {
        await store.setUpstream(
          options.orgId,
          { mode: current.mode, site: current.site, urls: current.urls, encryptedApiKey: journal.old_key.encrypted, apiKeyLast4: journal.old_key.last4 },
          options.actor,
        );
      }
      advance('created', (data) =>
        data.notes.push(
          `the new key failed its check (${error instanceof Error ? error.message : String(error)}); the relay was put back on key …${data.old_key.last4}`,
        ),
      );
      throw error;
    }
    const confirmed = await confirmNodes(options, journal);
    advance('verified');
    say(`3/4 a service check was accepted upstream with key …${journal.new_key.last4}; ${confirmed}.`);
    await pause('verified');
  }

  // 4. Revoke the old key — only with the new one listed and active.
  if (!at('revoked')) {
    client.useApiKey(newKey);
    const keys = await client.listApiKeys();
    const fresh = keys.find((key) => key.id === journal.new_key!.id);
    if (fresh === undefined || !fresh.active) {
      throw rekeyError('UPSTREAM_ROTATION_FAILED', {
        step: 'revoke',
        detail: `the new key …${journal.new_key.last4} (${journal.new_key.id}) is not listed as active upstream; the old key …${journal.old_key.last4} was kept so the organization is never left without a key`,
      });
    }
    const old = keys.find((key) => key.id === journal.old_key.id);
    if (old !== undefined && old.active) {
      await client.revokeApiKey(old.id);
      say(`4/4 revoked the old upstream key …${journal.old_key.last4} (${journal.old_key.id}).`);
    } else {
      advance('verified', (data) => data.notes.push(`the old key …${data.old_key.last4} (${data.old_key.id}) was already revoked upstream`));
      say(`4/4 the old upstream key …${journal.old_key.last4} was already revoked.`);
    }
    advance('revoked');
    await pause('revoked');
  }

  advance('completed', (data) => {
    data.completed_at = new Date().toISOString();
    if (data.new_key !== undefined) delete data.new_key.encrypted;
  });
  say(`Done: upstream key …${journal.old_key.last4} replaced by …${journal.new_key.last4}; no agent was touched.`);
  return journal;
}

/** Reads the current key, finds its id upstream by its last 4 characters, and names the rotation. */
async function plan(options: UpstreamRotationOptions, cipher: UpstreamKeyCipher): Promise<UpstreamRotationJournalData> {
  const settings = await options.store.getUpstream(options.orgId);
  if (settings === undefined) throw rekeyError('UPSTREAM_NOT_SET', { org: options.orgName });
  const oldKey = cipher.decrypt(options.orgId, settings.encryptedApiKey);
  const apiUrl = upstreamUrls(settings.site, settings.urls).metrics;
  const client = new DatadogClient({ url: apiUrl, apiKey: oldKey, appKey: options.appKey });
  const last4 = oldKey.slice(-4);
  const keys = await client.listApiKeys();
  // A key created by a rotation that is not the relay's key: a rotation unfinished elsewhere (another machine, a deleted journal).
  const stray = keys.find((key) => key.active && key.name.startsWith(KEY_NAME_PREFIX) && key.last4 !== last4);
  if (stray !== undefined) {
    throw rekeyError('UPSTREAM_ROTATION_FAILED', {
      step: 'plan',
      detail: `upstream key …${stray.last4} ("${stray.name}") was created by a rotation that did not finish and is not the relay's key: finish that rotation with --resume where it ran, or revoke that key upstream`,
    });
  }
  const candidates = keys.filter((key) => key.active && key.last4 === last4);
  const old = await pickOldKey(client, options.appKey, candidates, oldKey, last4);
  const now = new Date().toISOString();
  const rotationId = `${now.slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
  return {
    version: 1,
    kind: 'upstream-rotation',
    rotation_id: rotationId,
    org_id: options.orgId,
    org_name: options.orgName,
    step: 'planned',
    started_at: now,
    updated_at: now,
    api_url: apiUrl,
    old_key: { id: old.id, last4, encrypted: settings.encryptedApiKey },
    new_key_name: `${KEY_NAME_PREFIX}${rotationId}`,
    notes: [],
  };
}

/**
 * The upstream key among those ending in the same 4 characters. Datadog's list gives only
 * `last4`; when several keys share it, Datadog's `GET /api/v2/api_keys/{id}` shows the whole
 * key, which tells them apart. Never guess: a wrong guess would revoke a key in use elsewhere.
 */
async function pickOldKey(client: DatadogClient, appKey: string, candidates: ApiKey[], oldKey: string, last4: string): Promise<ApiKey> {
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw rekeyError('UPSTREAM_ROTATION_FAILED', {
      step: 'plan',
      detail: `the upstream lists no active API key ending in …${last4}: the application key must belong to the same upstream organization as the relay's upstream key`,
    });
  }
  for (const candidate of candidates) {
    const full = await fullKey(client, appKey, candidate.id);
    if (full === oldKey) return candidate;
  }
  throw rekeyError('UPSTREAM_ROTATION_FAILED', {
    step: 'plan',
    detail: `${candidates.length} active upstream API keys end in …${last4} and the upstream does not show whole keys to tell them apart; revoke the old key by hand after rekey upstream set`,
  });
}

/** The whole key `id` as the upstream shows it (Datadog does; rekey shows only last4), if it does. */
async function fullKey(client: DatadogClient, appKey: string, id: string): Promise<string | undefined> {
  const response = await fetch(`${client.url}/api/v2/api_keys/${encodeURIComponent(id)}`, {
    headers: { 'DD-API-KEY': client.currentApiKey, 'DD-APPLICATION-KEY': appKey, accept: 'application/json' },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (!response.ok) return undefined;
  let key: unknown;
  try {
    key = (JSON.parse(text) as { data?: { attributes?: { key?: unknown } } }).data?.attributes?.key;
  } catch {
    return undefined;
  }
  return typeof key === 'string' ? key : undefined;
}

/** Waits until the upstream accepts `apiKey` (`GET /api/v1/validate` → `{"valid":true}`). */
async function waitAccepted(apiUrl: string, apiKey: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${apiUrl}/api/v1/validate`, {
        headers: { 'DD-API-KEY': apiKey, accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      if (response.ok && /"valid"\s*:\s*true/.test(text)) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline)
      throw rekeyError('UPSTREAM_ROTATION_FAILED', {
        step: 'validate',
        detail: `the upstream does not accept the new key (GET /api/v1/validate: ${last}) after ${Math.round(timeoutMs / 1000)} s`,
      });
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * 2 ** Math.min(attempt, 4))));
  }
}

/** A real intake payload sent with the new key: one OK service check, retried while the upstream is busy. */
async function sendCheck(apiUrl: string, apiKey: string, rotationId: string, timeoutMs: number): Promise<void> {
  const body = JSON.stringify([
    {
      check: 'rekey.upstream.rotation',
      host_name: hostname(),
      status: 0,
      timestamp: Math.floor(Date.now() / 1000),
      message: `rekey upstream rotate ${rotationId}: the new upstream key carries payloads`,
      tags: [`rekey_rotation:${rotationId}`],
    },
  ]);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${apiUrl}/api/v1/check_run`, {
        method: 'POST',
        headers: { 'DD-API-KEY': apiKey, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      if (response.status >= 200 && response.status < 300) return;
      last = `HTTP ${response.status}`;
      if (response.status !== 403 && response.status !== 429 && response.status < 500) break;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * 2 ** Math.min(attempt, 4))));
  }
  throw rekeyError('UPSTREAM_ROTATION_FAILED', {
    step: 'verify',
    detail: `a service check sent with the new key was not accepted (POST /api/v1/check_run: ${last})`,
  });
}

function readJournal(path: string): UpstreamRotationJournalData | undefined {
  if (!existsSync(path)) return undefined;
  let data: UpstreamRotationJournalData;
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as UpstreamRotationJournalData;
  } catch (error) {
    throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: path, detail: (error as Error).message });
  }
  if (data?.version !== 1 || data.kind !== 'upstream-rotation' || !STEP_ORDER.includes(data.step)) {
    throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: path, detail: 'not a rekey upstream rotation journal (version 1)' });
  }
  return data;
}

/** Atomic and durable (one writeFileAtomic), mode 0600, in a directory made if missing (a PostgreSQL deployment may have no data directory yet). */
function save(path: string, data: UpstreamRotationJournalData): void {
  data.updated_at = new Date().toISOString();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(path, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
}
