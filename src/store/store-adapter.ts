import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { KeyChange, KeyChangeListener, UpstreamChangeListener } from './store.js';

/**
 * What a write transaction must serialise with besides SQLite's single writer:
 *  - 'deployment': every other deployment-wide writer (migrations, new organisations, bootstrap);
 *  - 'none': nothing beyond what the database itself guarantees (usage batches, audit records).
 * Changes to one organisation use `orgWriteTransaction` instead.
 */
export type WriteScope = 'deployment' | 'none';

/**
 * Everything that differs between SQLite and PostgreSQL, in the style of Kysely's dialect
 * adapters: the shared query code (sql-store.ts) never asks which database it runs on.
 */
export interface StoreAdapter {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;

  /**
   * Runs `fn` in one transaction that holds the lock for `scope` from its first statement
   * (SQLite: `BEGIN IMMEDIATE`, serialised in-process first; PostgreSQL: an advisory lock for
   * 'deployment'), so check-then-write invariants hold under any concurrency, across
   * connections and processes. Commits when `fn` resolves, rolls back when it throws.
   */
  writeTransaction<T>(scope: WriteScope, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;

  /**
   * A write transaction for one organisation: its first statement takes the org's lock
   * (PostgreSQL: `SELECT … FOR UPDATE` on the org row; SQLite: `BEGIN IMMEDIATE`), so every
   * check-then-write of that org's invariants is serialised with every other one.
   * `orgExists` says whether the org row was found (then `fn` should fail "not found").
   */
  orgWriteTransaction<T>(orgId: string, fn: (trx: Kysely<Database>, orgExists: boolean) => Promise<T>): Promise<T>;

  /** Called inside the transaction that makes `changes`; PostgreSQL publishes them with pg_notify. */
  publishKeyChanges(trx: Kysely<Database>, changes: readonly KeyChange[]): Promise<void>;

  /**
   * Delivers key changes committed by OTHER store instances (other nodes). SQLite has none
   * (one machine, one server): the returned stop function does nothing.
   */
  listenRemoteKeyChanges(listener: KeyChangeListener): Promise<() => Promise<void>>;

  /** Called inside the transaction that sets an organisation's upstream; PostgreSQL publishes it with pg_notify. */
  publishUpstreamChange(trx: Kysely<Database>, orgId: string): Promise<void>;

  /** Delivers upstream changes committed by OTHER store instances (SQLite: none, as for key changes). */
  listenRemoteUpstreamChanges(listener: UpstreamChangeListener): Promise<() => Promise<void>>;

  /** The secret that keys the deployment's key hashes (see src/keys/key-hasher.ts). */
  deploymentSecret(): Promise<Buffer>;

  /** True when `error` is a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;

  close(): Promise<void>;
}
