import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Relay mode (issue 19): one row per organisation that has an upstream — where its payloads
 * are forwarded (a Datadog site such as `datadoghq.eu`, or any base URL, optionally one per
 * kind of payload) and the upstream API key they are forwarded with, encrypted at rest
 * (AES-256-GCM under a key derived from the deployment secret: src/relay/upstream-crypto.ts).
 * The database never holds the upstream key in clear, so a database dump alone does not
 * reveal it. `mode` is 'relay' or 'standalone' (an org with no row is standalone).
 */
export const relayUpstreamsMigration: Migration = {
  name: '007-relay-upstreams',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('relay_upstreams')
      .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id'))
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('site', 'text', (c) => c.notNull())
      .addColumn('metrics_url', 'text')
      .addColumn('logs_url', 'text')
      .addColumn('traces_url', 'text')
      .addColumn('encrypted_api_key', 'text', (c) => c.notNull())
      .addColumn('api_key_last4', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
  },
};
