import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { KeyChange, KeyChangeListener } from './store.js';

/**
 * What a write transaction must serialise with:
 *  - `{ orgId }`: every other change to that organisation (its keys' invariants);
 *  - 'deployment': every other writer of the deployment (migrations, settings);
 *  - 'none': nothing beyond what the database itself guarantees (new orgs, usage batches).
 */
export type WriteScope = { orgId: string } | 'deployment' | 'none';

/**
 * Everything that differs between SQLite and PostgreSQL, in the style of Kysely's dialect
 * adapters: the shared query code (sql-store.ts) never asks which database it runs on.
 */
export interface StoreAdapter {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;

  /**
   * Runs `fn` in one transaction that holds the lock for `scope` from its first statement
   * (SQLite: `BEGIN IMMEDIATE`, serialised in-process first; PostgreSQL: `SELECT … FOR UPDATE`
   * on the org row or an advisory lock), so check-then-write invariants hold under any
   * concurrency, across connections and processes. Commits when `fn` resolves.
   */
  writeTransaction<T>(scope: WriteScope, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;

  /** Called inside the transaction that makes `changes`; PostgreSQL publishes them with pg_notify. */
  publishKeyChanges(trx: Kysely<Database>, changes: readonly KeyChange[]): Promise<void>;

  /**
   * Delivers key changes committed by OTHER store instances (other nodes). SQLite has none
   * (one machine, one server): the returned stop function does nothing.
   */
  listenRemoteKeyChanges(listener: KeyChangeListener): Promise<() => Promise<void>>;

  /** The secret that keys the deployment's key hashes (see src/keys/key-hasher.ts). */
  deploymentSecret(): Promise<Buffer>;

  /** True when `error` is a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;

  close(): Promise<void>;
}
