/**
 * Embedded SQLite (better-sqlite3) behind the store: one file `rekey.db` in the data
 * directory, WAL so readers never wait for the writer, and writers in other processes wait for
 * the write lock (see beginImmediate) instead of failing.
 */
import { chmodSync, closeSync, constants, openSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { rekeyError } from '../errors.js';
import { loadDeploymentSecret } from '../keys/key-hasher.js';
import type { Database } from './schema.js';
import { BACKSTOP_AUTOCHECKPOINT_BYTES, startSqliteCheckpointer } from './sqlite-checkpointer.js';
import { withStatementCache } from './sqlite-statement-cache.js';
import type { StoreAdapter, WriteScope } from './store-adapter.js';

export const SQLITE_FILE_NAME = 'rekey.db';
/** `page_size` of a database this adapter creates (see createSqliteAdapter). */
export const NEW_DATABASE_PAGE_SIZE = 16_384;
/** How long a writer waits for another process's write transaction before failing. */
const WRITE_LOCK_TIMEOUT_MS = 15_000;
/** Other statements (rare waits on a checkpoint) wait synchronously, at most this long. */
const STATEMENT_BUSY_TIMEOUT_MS = 5_000;

/**
 * One queue per database file in this process. better-sqlite3 waits for a busy lock
 * synchronously, blocking the event loop; if two Store instances in one process shared a file,
 * the second's `BEGIN IMMEDIATE` would block the very loop the first needs to commit. So
 * writers in one process take turns here first, and only other processes meet the busy wait.
 */
const fileQueues = new Map<string, Promise<unknown>>();

function serialise<T>(file: string, task: () => Promise<T>): Promise<T> {
  const previous = fileQueues.get(file) ?? Promise.resolve();
  const run = previous.then(task, task);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  fileQueues.set(file, tail);
  void tail.then(() => {
    if (fileQueues.get(file) === tail) fileQueues.delete(file);
  });
  return run;
}

/**
 * Takes the file's write lock, waiting for another process's writer asynchronously.
 * SQLite's own busy handler would block the event loop and sleep in steps of up to 100 ms
 * (throughput collapses when several processes write at once); here the wait is a short
 * jittered retry that lets this process serve reads meanwhile.
 */
async function beginImmediate(database: BetterSqlite3.Database, conn: Kysely<Database>, file: string): Promise<void> {
  const deadline = Date.now() + WRITE_LOCK_TIMEOUT_MS;
  database.pragma('busy_timeout = 0');
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY')) throw error;
        if (Date.now() > deadline) {
          throw rekeyError(
            'DATABASE_UNREACHABLE',
            { target: file, reason: `another process held the write lock for over ${WRITE_LOCK_TIMEOUT_MS / 1000} s` },
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * Math.min(16, 2 * attempt)));
      }
    }
  } finally {
    database.pragma(`busy_timeout = ${STATEMENT_BUSY_TIMEOUT_MS}`);
  }
}

/**
 * `rekey.db` is created 0600 before SQLite opens it (an existing one is narrowed to 0600, with
 * its `-wal` and `-shm`): it holds password hashes, emails and the audit trail. SQLite gives
 * the `-wal` and `-shm` files it creates later the database file's mode, so they are 0600 too.
 */
function restrictDatabaseFiles(file: string): void {
  closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

export function createSqliteAdapter(options: { file: string; dataDir: string }): StoreAdapter {
  restrictDatabaseFiles(options.file);
  const database = new BetterSqlite3(options.file);
  database.pragma(`busy_timeout = ${STATEMENT_BUSY_TIMEOUT_MS}`);
  // Pages of 16 KiB for a new database (an existing one keeps its size): a commit writes its
  // pages to the WAL with two system calls each, and point chunks are large (the intake
  // journal's save writes ~1 MiB rows), so bigger pages mean a quarter of the calls.
  database.pragma(`page_size = ${NEW_DATABASE_PAGE_SIZE}`);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  // A statement that writes several rows inside a transaction keeps a statement journal (for
  // its own rollback); on disk that is a temporary file created and deleted per statement —
  // five system calls and a file for every multi-row insert. In memory it is a buffer.
  database.pragma('temp_store = MEMORY');
  // Checkpoints run on another thread (sqlite-checkpointer.ts); this is only the backstop.
  const pageSize = database.pragma('page_size', { simple: true }) as number;
  database.pragma(`wal_autocheckpoint = ${Math.floor(BACKSTOP_AUTOCHECKPOINT_BYTES / pageSize)}`);
  const checkpointer = startSqliteCheckpointer({ file: options.file });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  let secret: Buffer | undefined;

  return {
    dialect: 'sqlite',
    db,

    writeTransaction<T>(_scope: WriteScope, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      // SQLite has one writer per file: `BEGIN IMMEDIATE` takes the write lock up front, so
      // every scope is serialised against every other writer, in this process and others.
      return serialise(options.file, () =>
        db.connection().execute(async (conn) => {
          await beginImmediate(database, conn, options.file);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (error) {
            if (database.inTransaction) await sql`rollback`.execute(conn);
            throw error;
          }
        }),
      );
    },

    orgWriteTransaction<T>(orgId: string, fn: (trx: Kysely<Database>, orgExists: boolean) => Promise<T>): Promise<T> {
      return this.writeTransaction('none', async (trx) => {
        const org = await trx.selectFrom('orgs').select('id').where('id', '=', orgId).executeTakeFirst();
        return fn(trx, org !== undefined);
      });
    },

    async publishKeyChanges(): Promise<void> {
      // In-process listeners are called by the store after commit; there are no other nodes.
    },

    async listenRemoteKeyChanges() {
      return async () => {};
    },

    async publishUpstreamChange(): Promise<void> {
      // As for key changes: the store tells in-process listeners after commit; other processes (the CLI) are polled.
    },

    async listenRemoteUpstreamChanges() {
      return async () => {};
    },

    async deploymentSecret(): Promise<Buffer> {
      secret ??= loadDeploymentSecret({ dataDir: options.dataDir });
      return secret;
    },

    isUniqueViolation(error: unknown): boolean {
      const code = (error as { code?: unknown } | null)?.code;
      return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
    },

    async close(): Promise<void> {
      await checkpointer.stop();
      await db.destroy();
    },
  };
}
