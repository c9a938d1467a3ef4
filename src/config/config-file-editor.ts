/**
 * Changing the API key in an Agent config file on disk: validate the key, plan a one-line
 * edit (api-key-editor.ts), keep a timestamped backup, replace the file atomically
 * (atomic-write.ts). Used by `rekey config set-api-key` and by the rotation for local hosts,
 * which rolls back with `restoreBackup`.
 *
 * @example
 *   const result = await setApiKeyInFile('/etc/datadog-agent/datadog.yaml', newKey);
 *   // … the agent fails to start with the new key …
 *   await restoreBackup(result.file, result.backupPath!);
 */
import { promises as fs } from 'node:fs';
import { isRekeyError, rekeyError } from '../errors.js';
import { last4, parseKey } from '../keys/key-format.js';
import { describeFsError } from './agent-settings.js';
import { planApiKeyEdit, planEndpointsEdit, readKeyState, type ConfigEdit } from './api-key-editor.js';
import { FileChangedError, writeFileAtomic } from './atomic-write.js';
import { renderDiff } from './config-diff.js';
import { joinConfigText, splitConfigText, type ConfigText } from './config-text.js';

export interface ConfigWriteOptions {
  /** Replace an `ENC[…]` secret handle in the file with a plain key. */
  force?: boolean;
  /** Plan and diff only; nothing is written and no backup made. */
  dryRun?: boolean;
  /** Keep a backup of the old file beside it (default true). */
  backup?: boolean;
  /** Clock for the backup's name (tests). */
  now?: () => Date;
  /**
   * Require rekey's checksum in the key (default true). False accepts any 32-lowercase-hex
   * key, e.g. one issued by Datadog itself, or one that came straight from the server.
   */
  checksum?: boolean;
  /** How long the replaced file is watched for late appends (atomic-write.ts; default 250 ms). */
  lateAppendWindowMs?: number;
}

export interface ConfigWriteResult {
  /** The file that was (or would be) changed: the real path when given a symlink. */
  file: string;
  format: 'v5' | 'v6';
  changed: boolean;
  action: ConfigEdit['action'];
  /** The backup of the old content; null for a dry run, no change or `backup: false`. */
  backupPath: string | null;
  /** 1-based line of the edit. */
  line: number;
  /** Unified diff with keys masked. */
  diff: string;
  /** The api_key the file had before (for messages: show only its last 4). */
  previousKey: string | null;
}

/**
 * Writes `api_key: KEY` into `file`. Refuses (CONFIG_* or MALFORMED_KEY, exit 2, file untouched)
 * a malformed or quoted key, an `ENC[…]` handle in the file unless `force`, a file that is not
 * a Datadog config, or one whose api_key cannot be changed on one line.
 */
export async function setApiKeyInFile(file: string, key: string, options: ConfigWriteOptions = {}): Promise<ConfigWriteResult> {
  requireValidKey(key, options);
  return editFile(file, options, (text, real) => {
    const previousKey = readKeyState(text, real).apiKey;
    return { edit: planApiKeyEdit(text, key, { file: real, force: options.force }), previousKey, secrets: [key, previousKey] };
  });
}

/** Adds `key` under `additional_endpoints[url]`, beside the current api_key, for an overlap period. */
export async function addEndpointKeyInFile(file: string, url: string, key: string, options: ConfigWriteOptions = {}): Promise<ConfigWriteResult> {
  requireValidKey(key, options);
  if (!/^https?:\/\/[^\s"]+$/.test(url)) {
    throw rekeyError('USAGE', { detail: `--add-endpoint-key needs an http(s) URL such as https://app.datadoghq.com, not "${url}"` });
  }
  return editFile(file, options, (text, real) => {
    const state = readKeyState(text, real);
    const endpoints = cloneEndpoints(state.additionalEndpoints);
    const list = (endpoints[url] ??= []);
    if (!list.includes(key)) list.push(key);
    return {
      edit: planEndpointsEdit(text, endpoints, { file: real }),
      previousKey: state.apiKey,
      secrets: [key, state.apiKey, ...Object.values(endpoints).flat()],
    };
  });
}

/** Removes `key` from every list of `additional_endpoints` (dropping URLs left without keys). */
export async function removeEndpointKeyInFile(file: string, key: string, options: ConfigWriteOptions = {}): Promise<ConfigWriteResult> {
  if (key.trim() === '') throw rekeyError('MALFORMED_KEY', { detail: 'The API key to remove is empty' });
  return editFile(file, options, (text, real) => {
    const state = readKeyState(text, real);
    const endpoints = cloneEndpoints(state.additionalEndpoints);
    let found = false;
    for (const url of Object.keys(endpoints)) {
      const kept = endpoints[url]!.filter((k) => k !== key);
      if (kept.length !== endpoints[url]!.length) found = true;
      if (kept.length === 0) delete endpoints[url];
      else endpoints[url] = kept;
    }
    if (!found) {
      const detail =
        state.apiKey === key
          ? `the key ending in ${last4(key)} is the main api_key, not an additional endpoint key; set a new api_key with set-api-key instead`
          : `no key ending in ${last4(key)} is listed under additional_endpoints`;
      throw rekeyError('CONFIG_EDIT_REFUSED', { file: real, detail });
    }
    return {
      edit: planEndpointsEdit(text, endpoints, { file: real }),
      previousKey: state.apiKey,
      secrets: [key, state.apiKey, ...Object.values(state.additionalEndpoints).flat()],
    };
  });
}

/** Puts a backup made by one of the functions above back in place, atomically, with its mode and owner. */
export async function restoreBackup(file: string, backupPath: string): Promise<void> {
  const real = await fs.realpath(file).catch(() => file);
  const [data, stat] = await Promise.all([fs.readFile(backupPath), fs.stat(real).catch(() => fs.stat(backupPath))]);
  await writeFileAtomic(real, data, { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid });
}

/** The backup's name: `<file>.rekey-backup-<UTC timestamp>`, never anything from the key. */
export function backupName(file: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', ''); // 20261127T061344123Z
  return `${file}.rekey-backup-${stamp}`;
}

function requireValidKey(key: string, options: ConfigWriteOptions): void {
  const check = parseKey(key, 'api', { checksum: options.checksum });
  if (!check.ok) throw rekeyError('MALFORMED_KEY', { detail: check.message });
}

function cloneEndpoints(map: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(map).map(([url, keys]) => [url, [...keys]]));
}

/** How many times an edit is re-read and re-applied when another program changes the file meanwhile. */
export const EDIT_ATTEMPTS = 10;

/**
 * Read, plan, back up, write a temp file, and — immediately before the rename, in the same
 * tick — compare what is on disk now with what was read (atomic-write.ts `expectedCurrent`).
 * If another program changed the file meanwhile (an appender, an editor, configuration
 * management), nothing is replaced: the edit is re-read and re-applied to its content, up to
 * EDIT_ATTEMPTS times with a short growing pause, then refused with CONFIG_WRITE_FAILED, the
 * file left as the other program left it. An append to the replaced file within a quarter
 * second of the rename is carried over; a program that keeps the file open longer and writes
 * later writes into the replaced file, as with any atomic-replace editor.
 */
async function editFile(
  file: string,
  options: ConfigWriteOptions,
  plan: (text: ConfigText, real: string) => { edit: ConfigEdit; previousKey: string | null; secrets: Array<string | null> },
): Promise<ConfigWriteResult> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await editOnce(file, options, plan);
    if (outcome !== 'changed-meanwhile') return outcome;
    if (attempt < EDIT_ATTEMPTS) {
      // A jittered pause, growing, so the next try can land in a quiet moment of the other writer.
      await new Promise((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 10));
    } else {
      throw rekeyError('CONFIG_WRITE_FAILED', {
        file,
        reason: `another program changed it each time rekey was about to replace it (${EDIT_ATTEMPTS} attempts); it holds what that program wrote. Run the command again once that program is done`,
      });
    }
  }
}

async function editOnce(
  file: string,
  options: ConfigWriteOptions,
  plan: (text: ConfigText, real: string) => { edit: ConfigEdit; previousKey: string | null; secrets: Array<string | null> },
): Promise<ConfigWriteResult | 'changed-meanwhile'> {
  let real: string;
  let data: Buffer;
  try {
    real = await fs.realpath(file); // a symlinked config is edited where it really lives
    data = await fs.readFile(real);
  } catch (error) {
    throw rekeyError('CONFIG_UNREADABLE', { file, reason: describeFsError(error) }, { cause: error });
  }
  if (!Buffer.from(data.toString('utf8'), 'utf8').equals(data)) {
    throw rekeyError('CONFIG_EDIT_REFUSED', { file: real, detail: 'it is not UTF-8 text, so it cannot be edited byte for byte' });
  }
  const { edit, previousKey, secrets } = plan(splitConfigText(data), real);
  const after = joinConfigText(edit.after);
  const changed = !after.equals(data);
  const result: ConfigWriteResult = {
    file: real,
    format: edit.format,
    changed,
    action: changed ? edit.action : 'unchanged',
    backupPath: null,
    line: edit.hunk.start + 1,
    diff: changed ? renderDiff(real, edit.hunk, secrets) : '',
    previousKey,
  };
  if (!changed || options.dryRun) return result;
  let backupPath: string | null = null;
  try {
    const stat = await fs.stat(real);
    if (options.backup !== false) {
      backupPath = await writeBackup(real, data, stat, (options.now ?? (() => new Date()))());
    }
    await writeFileAtomic(real, after, {
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      gid: stat.gid,
      expectedCurrent: data,
      lateAppendWindowMs: options.lateAppendWindowMs,
    });
  } catch (error) {
    if (error instanceof FileChangedError) {
      // That backup is of content that is no longer the file's; the next attempt makes its own.
      if (backupPath !== null) await fs.unlink(backupPath).catch(() => undefined);
      return 'changed-meanwhile';
    }
    if (isRekeyError(error)) throw error;
    throw rekeyError('CONFIG_WRITE_FAILED', { file: real, reason: describeFsError(error) }, { cause: error });
  }
  result.backupPath = backupPath;
  return result;
}

async function writeBackup(file: string, data: Buffer, stat: { mode: number; uid: number; gid: number }, now: Date): Promise<string> {
  const base = backupName(file, now);
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = attempt === 0 ? base : `${base}-${attempt + 1}`;
    const exists = await fs.stat(candidate).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    // The backup holds the old key: it gets the original's mode and owner, never wider.
    await writeFileAtomic(candidate, data, { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid });
    return candidate;
  }
  throw rekeyError('CONFIG_WRITE_FAILED', { file, reason: 'too many backups with the same timestamp' });
}
