import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Removes the API keys that host metadata documents held. The Datadog Agent puts its own API
 * key in the document it posts to `/intake/`, and until this release the intake stored the
 * document whole (`intake_hosts.metadata`): every agent's key in clear, against docs/product.md §2.
 * The intake now leaves key fields out (host-metadata-payload.ts); this rewrites what is
 * already stored the same way. A document that is not JSON is dropped rather than kept
 * unread.
 *
 * Frozen: it carries its own copy of the key-field rule as it was when it was written, so a
 * later change of the intake's rule (src/intake/host-metadata-payload.ts) cannot change it.
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

/** The document as JSON, any field named like a key (apiKey, api_key, appKey, application_key…) left out at any depth. */
function documentWithoutKeys(document: unknown): string {
  return JSON.stringify(document, (name: string, value: unknown) => (KEY_FIELD.test(name) ? undefined : value));
}

const KEY_FIELD = /^(api|app|application)[_-]?key$/i;
