import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Which upstream each relay node forwards with (issue 19, `rekey upstream rotate`). Frozen: its
 * own table definitions, no import of the live schema.
 *
 * Two tables, so the heartbeat costs one row per node, not one per node and organisation:
 *  - `relay_nodes`: one row per live relay node, rewritten after each read of the upstream
 *    settings (at least every REKEY_RELAY_POLL_MS, its `poll_ms`) with when (`reported_at`, epoch
 *    ms like every time in rekey's tables). A node is live while that is younger than 3 of its
 *    poll intervals (10 s at least); nodes gone an hour past that are deleted by the next report
 *    of any node (indexed for that delete).
 *  - `relay_node_upstreams`: per node and organisation, the version of the upstream the node
 *    resolved (src/relay/upstream-directory.ts `upstreamVersion`: a hash over the site, the URLs
 *    and the *encrypted* key — never the key), written only when it changes.
 * The rotation revokes the old upstream key only once every live node reports the new key's version.
 */
export const relayNodeUpstreamsMigration: Migration = {
  name: '012-relay-node-upstreams',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('relay_nodes')
      .addColumn('node_id', 'text', (c) => c.primaryKey())
      .addColumn('reported_at', 'bigint', (c) => c.notNull())
      .addColumn('poll_ms', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('relay_nodes_reported_at').on('relay_nodes').column('reported_at').execute();
    await db.schema
      .createTable('relay_node_upstreams')
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('upstream_version', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('relay_node_upstreams_pk', ['node_id', 'org_id'])
      .execute();
  },
};
