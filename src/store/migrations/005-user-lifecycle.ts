import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * User lifecycle (issue 15, row 14): what disabling a user, or changing or resetting their
 * password, leaves behind in the database.
 *  - `users.sessions_ended_at`: web sessions that began before this instant are over, on every
 *    node (sessions live in each node's memory; the UI checks this on every request).
 *  - `app_keys.disabled_at`: the key stopped working at this instant because its owner was
 *    disabled or had their password reset. It is kept (not deleted) and is not re-enabled with
 *    its owner unless asked for.
 */
export const userLifecycleMigration: Migration = {
  name: '005-user-lifecycle',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('users').addColumn('sessions_ended_at', 'bigint').execute();
    await db.schema.alterTable('app_keys').addColumn('disabled_at', 'bigint').execute();
  },
};
