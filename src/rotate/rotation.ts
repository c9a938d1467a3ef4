/**
 * Long on purpose: one state machine whose short steps share the journal and the run's state.
 *
 * The rotation engine: the whole "reset an API key" procedure across a fleet, made safe.
 *
 *   plan → create the new key (or roll it) → deploy to every host (bounded concurrency) and
 *   restart its agent → verify each host is seen with the new key → roll back hosts that are
 *   not → revoke the old key(s) only when no host that used them is left behind.
 *
 * Every step is written to the journal before the next begins, so a run stopped at any point
 * (Ctrl-C, crash, SIGKILL) continues with `--resume`: the same key, no second key, finished
 * hosts untouched.
 */
import { rekeyError } from '../errors.js';
import type { ApiKey, DatadogClient } from './datadog-client.js';
import { HostVerifier, type VerifiedBy } from './host-verifier.js';
import type { Inventory, InventoryHost } from './inventory.js';
import { Journal, type HostEntry, type JournalData } from './journal.js';
import { computePlan, type Plan, type UnknownHost } from './plan.js';
import { silentProgress, type Progress } from './progress.js';
import { createTransport } from './transports/create-transport.js';
import type { Transport } from './transports/transport.js';

export interface RotateOptions {
  inventory: Inventory;
  client: DatadogClient;
  journalPath: string;
  keyIds?: string[] | undefined;
  graceMs?: number | undefined;
  concurrency: number;
  dryRun: boolean;
  resume: boolean;
  force: boolean;
  verifyTimeoutMs: number;
  /** How far back "used the old key recently" looks (default 24 h). */
  recentWindowMs: number;
  pollIntervalMs?: number;
  /** Overrides how hosts are reached (the fleet simulator uses an in-process transport). */
  transportFor?: (host: InventoryHost) => Transport;
  progress?: Progress;
}

export interface HostReport {
  name: string;
  transport: string;
  state: HostEntry['state'];
  verified_by?: string;
  deployed_at?: string;
  verified_at?: string;
  backup?: string;
  error?: string;
}

export interface Straggler {
  host: string;
  key_id: string;
  key_last4: string;
  reason: string;
}

export interface RotationReport {
  dry_run: boolean;
  rotation_id?: string;
  journal?: string;
  url: string;
  key_selection?: Plan['keySelection'];
  old_keys: Array<{ id: string; name: string; last4: string; revoked: boolean }>;
  new_key?: { id: string; name: string; last4: string };
  mode?: 'create' | 'roll';
  hosts: HostReport[];
  unknown_hosts: Array<{ host: string; key_id: string; key_last4: string; last_seen: string }>;
  stragglers: Straggler[];
  forced: boolean;
  notes: string[];
  exit_code: number;
  duration_ms: number;
}

const DEFAULT_POLL_MS = 1000;

export async function rotate(options: RotateOptions): Promise<RotationReport> {
  const started = Date.now();
  const progress = options.progress ?? silentProgress;
  const { client, inventory } = options;

  if (options.dryRun) {
    const existing = Journal.read(options.journalPath);
    const exclude = existing?.data.new_key ? [existing.data.new_key.id] : [];
    const plan = await computePlan(client, inventory, { keyIds: options.keyIds, exclude, recentWindowMs: options.recentWindowMs });
    const notes = planNotes(plan);
    if (existing && existing.data.phase !== 'completed') notes.push(`an unfinished rotation is in ${options.journalPath}; run with --resume to finish it`);
    return {
      dry_run: true,
      url: client.url,
      key_selection: plan.keySelection,
      old_keys: plan.oldKeys.map((key) => ({ id: key.id, name: key.name, last4: key.last4, revoked: false })),
      hosts: inventory.hosts.map((host) => ({ name: host.name, transport: host.transport, state: 'pending' })),
      unknown_hosts: unknownReport(plan.unknownHosts),
      stragglers: [],
      forced: options.force,
      notes,
      exit_code: 0,
      duration_ms: Date.now() - started,
    };
  }

  // ---- plan or resume --------------------------------------------------------------------
  let journal: Journal;
  let plan: Plan | undefined;
  if (options.resume) {
    journal = Journal.resume(options.journalPath);
    journal.update((data) => data.notes.push(`resumed at ${new Date().toISOString()}`));
    progress.message(`Resuming rotation ${journal.data.rotation_id} from ${journal.path}`);
  } else {
    if (options.graceMs !== undefined && options.keyIds !== undefined && options.keyIds.length > 1) {
      throw rekeyError('USAGE', { detail: '--grace rolls one key; give exactly one --key with --grace' });
    }
    // Fails fast (before touching anything) if an unfinished rotation is there.
    const existing = Journal.read(options.journalPath);
    if (existing && existing.data.phase !== 'completed') throw rekeyError('ROTATION_IN_PROGRESS', { journal: options.journalPath });
    plan = await computePlan(client, inventory, { keyIds: options.keyIds, exclude: [], recentWindowMs: options.recentWindowMs });
    if (plan.oldKeys.length === 0) throw rekeyError('USAGE', { detail: 'There is no active API key to replace' });
    if (options.graceMs !== undefined && plan.oldKeys.length > 1) {
      throw rekeyError('USAGE', {
        detail: `--grace rolls one key but ${plan.oldKeys.length} keys would be replaced; choose one with --key`,
      });
    }
    journal = Journal.create(options.journalPath, {
      inventory: inventory.file,
      url: client.url,
      old_keys: plan.oldKeys.map((key) => ({ id: key.id, name: key.name, last4: key.last4 })),
      mode: options.graceMs !== undefined ? 'roll' : 'create',
      ...(options.graceMs !== undefined ? { grace_seconds: Math.round(options.graceMs / 1000) } : {}),
      hosts: inventory.hosts.map((host) => host.name),
      transports: Object.fromEntries(inventory.hosts.map((host) => [host.name, host.transport])),
    });
    journal.update((data) => data.notes.push(...planNotes(plan!)));
    progress.message(`Rotation ${journal.data.rotation_id}: journal ${journal.path} (mode 0600; it holds the new key until the rotation completes)`);
  }

  // ---- the new key -----------------------------------------------------------------------
  const newKey = await ensureNewKey(client, journal, progress);
  // The key we were given may be one of those we revoke: manage with the new one from here.
  client.useApiKey(newKey.key);

  // ---- deploy and verify -----------------------------------------------------------------
  journal.update((data) => (data.phase = 'deploying'));
  const verifier = new HostVerifier(client, newKey.id, newKey.last4, options.pollIntervalMs ?? DEFAULT_POLL_MS);
  await verifier.prime();
  const transportFor = options.transportFor ?? createTransport;
  const todo = inventory.hosts.filter((host) => journal.host(host.name, host.transport).state !== 'verified');
  const counts = { total: inventory.hosts.length, deployed: 0, verified: 0, failed: 0 };
  counts.verified = inventory.hosts.length - todo.length;
  progress.counts(counts);
  const pending = new Set(todo); // a Set: 10,000 hosts × Array.includes would be 10⁸ comparisons
  for (const host of inventory.hosts) if (!pending.has(host)) progress.hostEvent(host.name, 'already verified');

  const deploySlots = new Semaphore(Math.max(1, options.concurrency));
  try {
    await Promise.all(
      todo.map((host) =>
        rotateHost(host, transportFor(host), {
          journal,
          key: newKey.key,
          verifier,
          slots: deploySlots,
          verifyTimeoutMs: options.verifyTimeoutMs,
          progress,
          counts,
        }),
      ),
    );
  } finally {
    verifier.stop();
  }
  if (!verifier.hostUsage) {
    journal.update((data) =>
      addNote(
        data,
        "the server has no per-key host usage (GET /api/v2/api_keys/{id}/hosts answered 404): hosts were verified by GET /api/v1/hosts last_reported_time after their deploy plus their config showing the new key's last 4",
      ),
    );
  }

  // ---- revoke or hold ------------------------------------------------------------------
  journal.update((data) => (data.phase = 'revoking'));
  const stragglers = await findStragglers(client, inventory, journal, options.recentWindowMs, newKey.id);
  const failedHosts = inventory.hosts.filter((host) => journal.data.hosts[host.name]?.state !== 'verified');
  const mayRevoke = stragglers.length === 0 || options.force;
  if (mayRevoke) {
    for (const old of journal.data.old_keys) {
      if (journal.data.revoked.includes(old.id)) continue;
      await client.revokeApiKey(old.id);
      journal.update((data) => data.revoked.push(old.id));
      progress.message(`Revoked the old key …${old.last4} (${old.id})`);
    }
    if (stragglers.length > 0)
      journal.update((data) => addNote(data, `--force: revoked the old key(s) although ${stragglers.length} host(s) were not verified on the new key`));
  } else {
    journal.update((data) => {
      if (data.mode === 'roll') {
        addNote(data, `the old key was rolled with a grace period of ${data.grace_seconds} s and stops working when it ends, stragglers or not`);
      }
      addNote(
        data,
        `the old key(s) stay active: ${stragglers.length} host(s) are not on the new key yet; fix them and run again with --resume (or --force to revoke anyway)`,
      );
    });
  }
  const exitCode = failedHosts.length > 0 || !mayRevoke ? 1 : 0;
  if (mayRevoke) journal.complete(exitCode);
  else journal.update((data) => (data.exit_code = exitCode));

  return buildReport(journal.data, inventory, plan, stragglers, options, client.url, exitCode, started);
}

async function ensureNewKey(client: DatadogClient, journal: Journal, progress: Progress): Promise<{ id: string; key: string; last4: string }> {
  const existing = journal.data.new_key;
  if (existing?.key) return { id: existing.id, key: existing.key, last4: existing.last4 };
  if (existing) {
    throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: journal.path, detail: 'it names a new key but no longer holds it' });
  }
  if (journal.data.phase === 'creating_key') {
    // We crashed between asking for the key and writing it down: that key was shown once and is
    // lost, so revoke it (found by its unique name) rather than leave an unknown active key.
    const orphans = (await client.listApiKeys()).filter((key) => key.active && key.name === journal.data.new_key_name);
    for (const orphan of orphans) {
      await client.revokeApiKey(orphan.id);
      journal.update((data) => addNote(data, `revoked key …${orphan.last4} (${orphan.id}), created by an interrupted run before it could be recorded`));
    }
  }
  journal.update((data) => (data.phase = 'creating_key'));
  let created: ApiKey & { key: string };
  const old = journal.data.old_keys[0];
  if (journal.data.mode === 'roll' && old) {
    const rolled = await client.rollApiKey(old.id, journal.data.new_key_name, journal.data.grace_seconds ?? 0);
    if (rolled) created = rolled;
    else {
      journal.update((data) => {
        data.mode = 'create';
        addNote(
          data,
          'the server has no roll endpoint (POST /api/v2/api_keys/{id}/roll answered 404): created a new key instead; the old key is revoked after verification',
        );
      });
      created = await client.createApiKey(journal.data.new_key_name);
    }
  } else {
    created = await client.createApiKey(journal.data.new_key_name);
  }
  journal.update((data) => {
    data.new_key = { id: created.id, name: created.name || data.new_key_name, last4: created.last4 || created.key.slice(-4), key: created.key };
  });
  progress.message(`Created the new key …${created.key.slice(-4)} (${created.id})`);
  return { id: created.id, key: created.key, last4: created.last4 || created.key.slice(-4) };
}

interface HostContext {
  journal: Journal;
  key: string;
  verifier: HostVerifier;
  slots: Semaphore;
  verifyTimeoutMs: number;
  progress: Progress;
  counts: { total: number; deployed: number; verified: number; failed: number };
}

/** One host: deploy (unless a previous run already did), restart, verify, roll back on failure. */
async function rotateHost(host: InventoryHost, transport: Transport, context: HostContext): Promise<void> {
  const { journal, verifier, progress, counts } = context;
  const entry = journal.host(host.name, host.transport);
  let deployedAt = entry.deployed_at ? Date.parse(entry.deployed_at) : 0;
  let baseline = 0;
  if (entry.state !== 'deployed') {
    const release = await context.slots.acquire();
    try {
      baseline = verifier.baselineFor(host.name);
      deployedAt = Date.now();
      // Not awaited: a crash before 'deployed' is on disk leaves the host pending or deploying,
      // and a resumed run deploys it again — same key, same backup name — which is harmless.
      void journal
        .commit(() => {
          entry.state = 'deploying';
          entry.attempts++;
          delete entry.error;
        })
        .catch(() => undefined); // a failing disk surfaces at the next awaited commit
      progress.hostEvent(host.name, 'deploying');
      const { backup } = await transport.deploy(context.key, journal.data.rotation_id);
      if (backup !== undefined) entry.backup = backup;
      await transport.restart();
      await journal.commit(() => {
        entry.state = 'deployed';
        entry.deployed_at = new Date(deployedAt).toISOString();
      });
    } catch (error) {
      release();
      await fail(host, transport, entry, context, `deploy failed: ${(error as Error).message}`);
      return;
    }
    release();
    counts.deployed++;
    progress.hostEvent(host.name, 'deployed');
    progress.counts(counts);
  } else {
    progress.hostEvent(host.name, 'deployed earlier, verifying');
  }

  const result = await verifier.wait({
    host: host.name,
    deployedAt,
    baseline,
    deadline: Date.now() + context.verifyTimeoutMs,
    configuredLast4: () => transport.configuredLast4(),
  });
  if (result.ok) {
    await journal.commit(() => {
      entry.state = 'verified';
      entry.verified_at = new Date(result.at).toISOString();
      entry.verified_by = result.by satisfies VerifiedBy;
    });
    counts.verified++;
    progress.hostEvent(host.name, 'verified', result.by);
    progress.counts(counts);
    return;
  }
  await fail(host, transport, entry, context, result.reason);
}

async function fail(host: InventoryHost, transport: Transport, entry: HostEntry, context: HostContext, reason: string): Promise<void> {
  const { journal, progress, counts } = context;
  try {
    await transport.rollback(entry.backup);
    let restart = '';
    try {
      await transport.restart();
    } catch (error) {
      restart = `, but restarting the agent failed: ${(error as Error).message}`;
    }
    await journal.commit(() => {
      entry.state = 'rolled_back';
      entry.error = `${reason}; rolled back to the previous config${restart}`;
    });
    progress.hostEvent(host.name, 'rolled back', entry.error);
  } catch (error) {
    await journal.commit(() => {
      entry.state = 'failed';
      entry.error = `${reason}; rollback failed: ${(error as Error).message}`;
    });
    progress.hostEvent(host.name, 'rollback failed', entry.error);
  }
  counts.failed++;
  progress.counts(counts);
}

/**
 * Hosts that would break if the old keys were revoked now: every inventory host not verified,
 * plus every host that used an old key within the window, unless it is already seen on the new key.
 */
async function findStragglers(client: DatadogClient, inventory: Inventory, journal: Journal, windowMs: number, newKeyId: string): Promise<Straggler[]> {
  const stragglers: Straggler[] = [];
  const verified = new Set(
    Object.entries(journal.data.hosts)
      .filter(([, e]) => e.state === 'verified')
      .map(([name]) => name),
  );
  const firstOld = journal.data.old_keys[0];
  for (const host of inventory.hosts) {
    if (verified.has(host.name)) continue;
    const entry = journal.data.hosts[host.name];
    stragglers.push({
      host: host.name,
      key_id: firstOld?.id ?? '',
      key_last4: firstOld?.last4 ?? '',
      reason: `inventory host not verified (${entry?.state ?? 'pending'})`,
    });
  }
  const onNewKey = await client.keyHosts(newKeyId);
  if (onNewKey === undefined) {
    journal.update((data) =>
      addNote(data, 'hosts outside the inventory cannot be detected without per-key host usage; check the Datadog Agent list before relying on the revoke'),
    );
    return stragglers;
  }
  const rotationStart = Date.parse(journal.data.started_at);
  const migrated = new Set(onNewKey.filter((entry) => entry.lastSeen >= rotationStart).map((entry) => entry.host));
  const since = Date.now() - windowMs;
  for (const old of journal.data.old_keys) {
    if (journal.data.revoked.includes(old.id)) continue;
    const users = (await client.keyHosts(old.id)) ?? [];
    for (const user of users) {
      if (user.lastSeen < since || verified.has(user.host) || migrated.has(user.host)) continue;
      if (stragglers.some((s) => s.host === user.host)) continue;
      stragglers.push({
        host: user.host,
        key_id: old.id,
        key_last4: old.last4,
        reason: `not in the inventory; used the old key at ${new Date(user.lastSeen).toISOString()}`,
      });
    }
  }
  return stragglers;
}

function planNotes(plan: Plan): string[] {
  const notes: string[] = [];
  const selection = {
    explicit: 'keys given with --key',
    'used-by-inventory': 'every active key that an inventory host used recently',
    'all-active': plan.hostUsage
      ? 'every active key (no inventory host has reported yet)'
      : 'every active key (the server has no per-key host usage to narrow it)',
  }[plan.keySelection];
  notes.push(`keys replaced: ${selection}`);
  if (!plan.hostUsage) {
    notes.push('the server has no per-key host usage: hosts outside the inventory cannot be found; verification falls back to GET /api/v1/hosts');
  }
  if (plan.unknownHosts.length > 0) {
    notes.push(
      `${new Set(plan.unknownHosts.map((h) => h.host)).size} host(s) not in the inventory used an old key recently: the old key will not be revoked while they do`,
    );
  }
  if (plan.unseenInventoryHosts.length > 0) {
    notes.push(
      `inventory hosts not seen on the old key(s) recently: ${plan.unseenInventoryHosts.slice(0, 20).join(', ')}${plan.unseenInventoryHosts.length > 20 ? ', …' : ''} (is the name the hostname the agent reports?)`,
    );
  }
  return notes;
}

function unknownReport(hosts: UnknownHost[]): RotationReport['unknown_hosts'] {
  return hosts.map((h) => ({ host: h.host, key_id: h.keyId, key_last4: h.keyLast4, last_seen: new Date(h.lastSeen).toISOString() }));
}

function addNote(data: JournalData, note: string): void {
  if (!data.notes.includes(note)) data.notes.push(note);
}

function buildReport(
  data: JournalData,
  inventory: Inventory,
  plan: Plan | undefined,
  stragglers: Straggler[],
  options: RotateOptions,
  url: string,
  exitCode: number,
  started: number,
): RotationReport {
  return {
    dry_run: false,
    rotation_id: data.rotation_id,
    journal: options.journalPath,
    url,
    ...(plan ? { key_selection: plan.keySelection } : {}),
    old_keys: data.old_keys.map((key) => ({ ...key, revoked: data.revoked.includes(key.id) })),
    ...(data.new_key ? { new_key: { id: data.new_key.id, name: data.new_key.name, last4: data.new_key.last4 } } : {}),
    mode: data.mode,
    hosts: inventory.hosts.map((host) => {
      const entry = data.hosts[host.name]!;
      return {
        name: host.name,
        transport: host.transport,
        state: entry.state,
        ...(entry.verified_by ? { verified_by: entry.verified_by } : {}),
        ...(entry.deployed_at ? { deployed_at: entry.deployed_at } : {}),
        ...(entry.verified_at ? { verified_at: entry.verified_at } : {}),
        ...(entry.backup ? { backup: entry.backup } : {}),
        ...(entry.error ? { error: entry.error } : {}),
      };
    }),
    unknown_hosts: plan ? unknownReport(plan.unknownHosts) : [],
    stragglers,
    forced: options.force && stragglers.length > 0,
    notes: data.notes,
    exit_code: exitCode,
    duration_ms: Date.now() - started,
  };
}

/** Bounds how many hosts are being deployed at once (verification is not bounded: it is one shared poll). */
class Semaphore {
  private available: number;
  private readonly queue: Array<() => void> = [];
  constructor(size: number) {
    this.available = size;
  }
  async acquire(): Promise<() => void> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.available++;
    };
  }
}
