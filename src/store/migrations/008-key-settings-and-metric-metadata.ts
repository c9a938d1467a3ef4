import type { Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Issue 17, the last gaps of the Datadog key and metric APIs:
 *
 *   api_keys.remote_config_read_enabled  Datadog's per-key Remote Configuration switch
 *                    (`remote_config_read_enabled` on create, update and as a list filter):
 *                    0 or 1, 0 for every key that existed before.
 *   api_keys.category  Datadog's per-key `category` (a free string Datadog does not enumerate;
 *                    its keys read back `default`): 'default' for every key that existed before.
 *   metric_metadata.type, description, short_name, per_unit, statsd_interval
 *                    the rest of Datadog's MetricMetadata (`GET/PUT /api/v1/metrics/{name}`),
 *                    beside the `unit` the intake keeps (migration 006); null until set.
 */
export const keySettingsAndMetricMetadataMigration: Migration = {
  name: '008-key-settings-and-metric-metadata',
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .alterTable('api_keys')
      .addColumn('remote_config_read_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('api_keys')
      .addColumn('category', 'text', (c) => c.notNull().defaultTo('default'))
      .execute();
    await db.schema.alterTable('metric_metadata').addColumn('type', 'text').execute();
    await db.schema.alterTable('metric_metadata').addColumn('description', 'text').execute();
    await db.schema.alterTable('metric_metadata').addColumn('short_name', 'text').execute();
    await db.schema.alterTable('metric_metadata').addColumn('per_unit', 'text').execute();
    await db.schema.alterTable('metric_metadata').addColumn('statsd_interval', 'integer').execute();
  },
};
