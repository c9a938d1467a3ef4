import { sql } from 'kysely';
import type { StoreAdapter } from '../store-adapter.js';
import type { Migration } from './migration.js';

/**
 * Applies the pending `migrations` in order, all in one deployment-wide write transaction,
 * so several processes or nodes starting at once apply each migration exactly once.
 * Idempotent. Kysely's Migrator is not used because on SQLite it takes no lock across
 * processes; this runner reuses the store's own write lock instead.
 */
export async function runMigrations(adapter: StoreAdapter, migrations: readonly Migration[], now: () => Date): Promise<string[]> {
  return adapter.writeTransaction('deployment', async (trx) => {
    await sql`create table if not exists rekey_migrations (name text primary key, applied_at bigint not null)`.execute(trx);
    const applied = new Set((await trx.selectFrom('rekey_migrations').select('name').execute()).map((row) => row.name));
    const ran: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.name)) continue;
      await migration.up(trx, adapter.dialect);
      await trx.insertInto('rekey_migrations').values({ name: migration.name, applied_at: now().getTime() }).execute();
      ran.push(migration.name);
    }
    return ran;
  });
}
