/**
 * Bare databases with no migration applied — SQLite in a temp directory, PostgreSQL a
 * throwaway database — for tests that run migrations one at a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { createTestDatabase } from './postgres.js';

export interface RawDatabase {
  dialect: 'sqlite' | 'postgres';
  db: Kysely<any>;
  drop(): Promise<void>;
}

export async function rawSqlite(): Promise<RawDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-migration-'));
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir, 'rekey.db')) }) });
  return { dialect: 'sqlite', db, drop: async () => (await db.destroy(), rmSync(dir, { recursive: true, force: true })) };
}

export async function rawPostgres(): Promise<RawDatabase> {
  const database = await createTestDatabase();
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2 }) }) });
  return { dialect: 'postgres', db, drop: async () => (await db.destroy(), await database.drop()) };
}
