/**
 * Opens the deployment's store: PostgreSQL when a database URL is given, else embedded
 * SQLite in the data directory; runs pending migrations; turns every way this can fail into
 * one catalogue error with a one-line message (DATA_DIR_NOT_WRITABLE, DATABASE_URL_INVALID,
 * DATABASE_UNREACHABLE), never a stack trace.
 *
 * @example
 *   const store = await openStore(resolveStoreLocation({ data: options.data }));
 *   const hasher = createKeyHasher(await store.deploymentSecret());
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { isRekeyError, rekeyError } from '../errors.js';
import { createPostgresAdapter } from './postgres-adapter.js';
import { SqlStore } from './sql-store.js';
import { SQLITE_FILE_NAME, createSqliteAdapter } from './sqlite-adapter.js';
import type { StoreAdapter } from './store-adapter.js';
import type { Store, StoreOptions } from './store.js';

export interface StoreLocation {
  /** Data directory for SQLite (and its secret.key). Default `./data`. */
  dataDir?: string;
  /** `postgres://…`: use PostgreSQL instead of SQLite. */
  databaseUrl?: string;
}

export interface OpenStoreOptions extends StoreLocation {
  options?: StoreOptions;
  /** PostgreSQL pool size. */
  maxConnections?: number;
}

export const DEFAULT_DATA_DIR = './data';
/** How long openStore waits to reach PostgreSQL before DATABASE_UNREACHABLE. */
const PROBE_TIMEOUT_MS = 10_000;

/** Where the store is, from `--data` and the environment (REKEY_DATA, REKEY_DATABASE_URL). */
export function resolveStoreLocation(input: { data?: string; env?: NodeJS.ProcessEnv }): StoreLocation {
  const env = input.env ?? process.env;
  const databaseUrl = env.REKEY_DATABASE_URL;
  return {
    dataDir: input.data ?? (env.REKEY_DATA || DEFAULT_DATA_DIR),
    ...(databaseUrl ? { databaseUrl } : {}),
  };
}

/** A human description of the location, without any password: for messages. */
export function describeStoreLocation(location: StoreLocation): string {
  if (location.databaseUrl) return redactUrl(location.databaseUrl);
  return resolve(location.dataDir ?? DEFAULT_DATA_DIR);
}

export async function openStore(input: OpenStoreOptions = {}): Promise<Store & { deploymentSecret(): Promise<Buffer> }> {
  const adapter = input.databaseUrl ? await openPostgres(input.databaseUrl, input.maxConnections) : openSqlite(resolve(input.dataDir ?? DEFAULT_DATA_DIR));
  const store = new SqlStore(adapter, input.options);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    if (!input.databaseUrl && isReadOnlyError(error)) {
      throw rekeyError('DATA_DIR_NOT_WRITABLE', { dir: resolve(input.dataDir ?? DEFAULT_DATA_DIR), reason: codeOf(error) }, { cause: error });
    }
    throw error;
  }
  return store;
}

function openSqlite(dataDir: string): StoreAdapter {
  try {
    makeDataDir(dataDir);
    accessSync(dataDir, constants.W_OK);
    return createSqliteAdapter({ file: join(dataDir, SQLITE_FILE_NAME), dataDir });
  } catch (error) {
    if (isRekeyError(error)) throw error;
    if (isDriverLoadError(error)) throw rekeyError('SQLITE_DRIVER_UNAVAILABLE', { reason: codeOf(error).slice(0, 200) }, { cause: error });
    throw rekeyError('DATA_DIR_NOT_WRITABLE', { dir: dataDir, reason: codeOf(error) }, { cause: error });
  }
}

/**
 * better-sqlite3's native module failed to load — not the data directory's fault: a missing
 * `.node` file ("Could not locate the bindings file", MODULE_NOT_FOUND) or one built for
 * another Node.js (ERR_DLOPEN_FAILED, "NODE_MODULE_VERSION"). File system errors carry an
 * errno code (EACCES, EROFS, ENOSPC…) or an SQLITE_ code and stay DATA_DIR_NOT_WRITABLE.
 */
export function isDriverLoadError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return code === 'ERR_DLOPEN_FAILED' || code === 'MODULE_NOT_FOUND' || /bindings file|NODE_MODULE_VERSION|better_sqlite3\.node/.test(message);
}

/**
 * Creates the data directory and its missing parents, each 0700 (the database holds password
 * hashes, emails and the audit trail; the directory is the first line of its protection), one
 * level at a time. Not `mkdirSync(…, { recursive: true })`: on a file system that answers
 * ENOENT to every mkdir (`/proc/x`), Node's recursive mkdir retries forever at 100 % CPU.
 * An existing directory is used as it is.
 */
function makeDataDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw error;
    makeDataDir(parent);
  }
  // The parent exists now; a second ENOENT (a pseudo file system) is final.
  mkdirSync(dir, { mode: 0o700 });
}

async function openPostgres(databaseUrl: string, maxConnections: number | undefined): Promise<StoreAdapter> {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch (error) {
    throw rekeyError('DATABASE_URL_INVALID', { detail: 'it is not a URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE' }, { cause: error });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw rekeyError('DATABASE_URL_INVALID', {
      detail: `the scheme is "${url.protocol.replace(/:$/, '')}"; it must be postgres:// or postgresql://`,
    });
  }
  if (!url.hostname && !url.searchParams.has('host')) {
    throw rekeyError('DATABASE_URL_INVALID', { detail: 'it names no host; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE' });
  }
  const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.query('select 1');
  } catch (error) {
    throw rekeyError('DATABASE_UNREACHABLE', { target: redactUrl(databaseUrl), reason: reasonOf(error) }, { cause: error });
  } finally {
    await probe.end().catch(() => {});
  }
  return createPostgresAdapter({
    connectionString: databaseUrl,
    ...(maxConnections !== undefined ? { maxConnections } : {}),
  });
}

/** host:port/database, without user or password. */
function redactUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function codeOf(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  return typeof e?.code === 'string' ? e.code : String(e?.message ?? error);
}

function reasonOf(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  // Node's happy-eyeballs connect fails with an AggregateError whose message is empty.
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : undefined;
  const inner = Array.isArray(e?.errors) && e.errors.length > 0 ? reasonOf(e.errors[0]) : undefined;
  return (message ?? inner ?? (typeof e?.code === 'string' ? e.code : String(error))).split('\n')[0]!;
}

function isReadOnlyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN|IOERR|PERM)/.test(code);
}
