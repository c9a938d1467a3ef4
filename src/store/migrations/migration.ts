import type { Kysely } from 'kysely';

/**
 * One versioned schema change. `up` runs inside the migration transaction (both SQLite and
 * PostgreSQL have transactional DDL), so a failed migration leaves nothing half-applied.
 * Write it with Kysely's portable schema builder and types (`text`, `bigint`, `integer`)
 * so the same migration runs on both databases.
 */
export interface Migration {
  /** Sortable and unique, e.g. '001-initial'; recorded in `rekey_migrations`. */
  readonly name: string;
  /** `dialect` for the rare type with no portable name (a byte string: SQLite blob, PostgreSQL bytea). */
  up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void>;
}
