import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Which upstream each relay node forwards with (issue 19, `rekey upstream rotate`). Frozen: its
 * own table definition, no import of the live schema.
 *
 * Every relay node writes, after each read of the upstream settings (at least every
 * REKEY_RELAY_POLL_MS), one row per organisation it holds an upstream for: the version of that
 * upstream as the node resolved it (src/relay/upstream-directory.ts `upstreamVersion`: a hash
 * over the site, the URLs and the *encrypted* key — never the key) and when. The rotation
 * revokes the old upstream key only once every node that reported recently reports the new
 * key's version. `poll_ms` is the node's REKEY_RELAY_POLL_MS: a node is live while its last report
 * is younger than 3 of its poll intervals (10 s at least). `reported_at` is epoch ms, like every time in rekey's tables; rows of nodes
 * gone for an hour are deleted by the next report of any node (indexed for that delete).
 */
export const relayNodeUpstreamsMigration: Migration = {
  name: '012-relay-node-upstreams',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('relay_node_upstreams')
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('upstream_version', 'text', (c) => c.notNull())
      .addColumn('reported_at', 'bigint', (c) => c.notNull())
      .addColumn('poll_ms', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('relay_node_upstreams_pk', ['node_id', 'org_id'])
      .execute();
    await db.schema.createIndex('relay_node_upstreams_reported_at').on('relay_node_upstreams').column('reported_at').execute();
  },
};
