import type { Kysely } from 'kysely';
import { documentWithoutKeys } from '../../intake/host-metadata-payload.js';
import type { Migration } from './migration.js';

/**
 * Removes the API keys that host metadata documents held. The Datadog Agent puts its own API
 * key in the document it posts to `/intake/`, and until this release the intake stored the
 * document whole (`intake_hosts.metadata`): every agent's key in clear, against PRODUCT.md §2.
 * The intake now leaves key fields out (host-metadata-payload.ts); this rewrites what is
 * already stored the same way. A document that is not JSON is dropped rather than kept
 * unread.
 */
export const hostMetadataWithoutKeysMigration: Migration = {
  name: '004-host-metadata-without-keys',
  async up(db: Kysely<any>): Promise<void> {
    const rows = (await db.selectFrom('intake_hosts').select(['org_id', 'host', 'metadata']).where('metadata', 'is not', null).execute()) as Array<{
      org_id: string;
      host: string;
      metadata: string;
    }>;
    for (const row of rows) {
      let cleaned: string | null;
      try {
        cleaned = documentWithoutKeys(JSON.parse(row.metadata));
      } catch {
        cleaned = null;
      }
      if (cleaned === row.metadata) continue;
      await db.updateTable('intake_hosts').set({ metadata: cleaned }).where('org_id', '=', row.org_id).where('host', '=', row.host).execute();
    }
  },
};
