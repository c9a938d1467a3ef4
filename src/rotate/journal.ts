/**
 * The rotation journal: everything `rekey rotate --resume` needs to continue after Ctrl-C or a
 * crash without creating a second key or touching a host that is already done.
 *
 * It holds the new key ITSELF (a resumed run must deploy the same key, and the API shows a key
 * only once), so the file is created with mode 0600 and its path is printed. The key is
 * removed from the file as soon as the rotation completes. Every write is atomic and durable
 * (src/config/atomic-write.ts), so a crash leaves either the old or the new journal, never
 * half of one.
 */
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../config/atomic-write.js';
import { rekeyError } from '../errors.js';

export type HostState =
  /** Not touched yet. */
  | 'pending'
  /** Config write or restart started; a resumed run deploys again (same key, same backup). */
  | 'deploying'
  /** Config written and agent restarted at `deployed_at`; waiting to be seen with the new key. */
  | 'deployed'
  /** Seen with the new key after its deploy: finished, never touched again. */
  | 'verified'
  /** Failed and put back on its previous config. */
  | 'rolled_back'
  /** Failed, and the rollback failed too (or there was nothing to roll back to). */
  | 'failed';

export interface HostEntry {
  state: HostState;
  transport: string;
  deployed_at?: string;
  /** Where the previous config was saved (local path, or path on the remote host). */
  backup?: string;
  verified_at?: string;
  /** 'host-usage' (per-key host usage) or 'v1-hosts+config' (fallback). */
  verified_by?: string;
  error?: string;
  attempts: number;
}

export type Phase = 'planned' | 'creating_key' | 'deploying' | 'revoking' | 'completed';

export interface KeyRef {
  id: string;
  name: string;
  last4: string;
}

export interface JournalData {
  version: 1;
  rotation_id: string;
  phase: Phase;
  started_at: string;
  updated_at: string;
  inventory: string;
  url: string;
  /** The keys being replaced. */
  old_keys: KeyRef[];
  /** `create` (POST then revoke) or `roll` (the roll extension, old key expires after the grace). */
  mode: 'create' | 'roll';
  grace_seconds?: number;
  /** The new key; `key` is present only while the rotation is unfinished. */
  new_key?: KeyRef & { key?: string };
  /** The name the new key is created under, written BEFORE the create request so a crash in between is detectable. */
  new_key_name: string;
  hosts: Record<string, HostEntry>;
  revoked: string[];
  /** Notes for the report: fallbacks used, orphan keys revoked, … */
  notes: string[];
  completed_at?: string;
  exit_code?: number;
}

/** The default journal path: `.rekey-rotate.journal.json` next to the inventory. */
export function defaultJournalPath(inventoryFile: string): string {
  return join(dirname(inventoryFile), '.rekey-rotate.journal.json');
}

/** The least time between the starts of two grouped journal writes (see Journal.commit). */
const WRITE_SPACING_MS = 100;

export class Journal {
  private constructor(
    readonly path: string,
    readonly data: JournalData,
  ) {}

  /** Starts a new journal (fails if an unfinished one is there). */
  static create(
    path: string,
    init: Omit<JournalData, 'version' | 'rotation_id' | 'phase' | 'started_at' | 'updated_at' | 'hosts' | 'revoked' | 'notes' | 'new_key_name'> & {
      hosts: string[];
      transports: Record<string, string>;
    },
  ): Journal {
    const existing = Journal.read(path);
    if (existing && existing.data.phase !== 'completed') throw rekeyError('ROTATION_IN_PROGRESS', { journal: path });
    const now = new Date().toISOString();
    const rotationId = `${now.slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
    const hosts: Record<string, HostEntry> = {};
    for (const name of init.hosts) hosts[name] = { state: 'pending', transport: init.transports[name] ?? 'unknown', attempts: 0 };
    const journal = new Journal(path, {
      version: 1,
      rotation_id: rotationId,
      phase: 'planned',
      started_at: now,
      updated_at: now,
      inventory: init.inventory,
      url: init.url,
      old_keys: init.old_keys,
      mode: init.mode,
      ...(init.grace_seconds !== undefined ? { grace_seconds: init.grace_seconds } : {}),
      new_key_name: `rekey-rotate ${rotationId}`,
      hosts,
      revoked: [],
      notes: [],
    });
    journal.save();
    return journal;
  }

  /** Opens the unfinished journal at `path` for --resume. */
  static resume(path: string): Journal {
    const journal = Journal.read(path);
    if (!journal || journal.data.phase === 'completed') throw rekeyError('ROTATION_NOTHING_TO_RESUME', { journal: path });
    return journal;
  }

  /** Reads a journal, or undefined when there is none. */
  static read(path: string): Journal | undefined {
    if (!existsSync(path)) return undefined;
    let data: JournalData;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as JournalData;
    } catch (error) {
      throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: path, detail: (error as Error).message });
    }
    if (data?.version !== 1 || typeof data.rotation_id !== 'string' || typeof data.hosts !== 'object') {
      throw rekeyError('ROTATION_JOURNAL_INVALID', { journal: path, detail: 'not a rekey rotation journal (version 1)' });
    }
    return new Journal(path, data);
  }

  /** A host's entry, created as pending when the inventory gained a host since the journal began. */
  host(name: string, transport: string): HostEntry {
    let entry = this.data.hosts[name];
    if (!entry) {
      entry = { state: 'pending', transport, attempts: 0 };
      this.data.hosts[name] = entry;
    }
    return entry;
  }

  /** Changes the journal and writes it now. */
  update(mutate: (data: JournalData) => void): void {
    mutate(this.data);
    this.save();
  }

  /** The write in progress (or a resolved promise), and the one queued behind it. */
  private writing: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  /** When the last grouped write began (ms): the next begins no sooner than WRITE_SPACING_MS after. */
  private lastWriteAt = 0;
  /** Sequence of the newest journal content written; an older write finishing late is dropped. */
  private sequence = 0;
  private written = 0;

  /**
   * Changes the journal; resolves once the change is on disk. Writes are asynchronous (an fsync
   * takes ~30 ms here and must not stall the event loop) and grouped: every change made while a
   * write is in progress goes out in the one write queued behind it, so 1,000 hosts cost a few
   * dozen writes, not thousands, and each host still waits for its own state to be durable.
   * Writes begin at most every WRITE_SPACING_MS: at 10,000 hosts a write serialises ~1.5 MB
   * (~15 ms of CPU), and back-to-back writes took 44 % of the rotating process's CPU
   * (bench/rotate-fleet.ts --agents 10000, profiled); spaced, the same changes share fewer writes.
   */
  commit(mutate: (data: JournalData) => void): Promise<void> {
    mutate(this.data);
    if (!this.queued) {
      const queued = this.writing.then(async () => {
        const wait = this.lastWriteAt + WRITE_SPACING_MS - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        this.queued = undefined;
        this.lastWriteAt = Date.now();
        await this.saveAsync();
      });
      this.queued = queued;
      this.writing = queued.catch(() => undefined);
    }
    return this.queued;
  }

  private async saveAsync(): Promise<void> {
    const sequence = ++this.sequence;
    this.data.updated_at = new Date().toISOString();
    const text = `${JSON.stringify(this.data)}\n`; // compact: 1,000 hosts are ~120 KB a write
    await writeFileAtomic(this.path, text, {
      mode: 0o600,
      // A synchronous save() of newer content may have happened meanwhile: never go back in time.
      replaceIf: () => {
        if (sequence < this.written) return false;
        this.written = sequence;
        return true;
      },
    });
  }

  /** Marks the rotation completed and removes the key from the file. */
  complete(exitCode: number): void {
    this.update((data) => {
      data.phase = 'completed';
      data.completed_at = new Date().toISOString();
      data.exit_code = exitCode;
      if (data.new_key) delete data.new_key.key;
    });
  }

  /** Atomic write, mode 0600 (the file holds the new key while the rotation runs). */
  save(): void {
    const sequence = ++this.sequence;
    this.data.updated_at = new Date().toISOString();
    writeFileAtomicSync(this.path, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    this.written = sequence;
  }
}
