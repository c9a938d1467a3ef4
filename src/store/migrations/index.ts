/**
 * Every migration, in the order they run. Each runs once per database, on start, inside the
 * deployment-wide write transaction (see run-migrations.ts), and is recorded by name in
 * `rekey_migrations`.
 *
 * To add one: create `NNN-what.ts` beside this file exporting a `Migration`
 * (name 'NNN-what', `up(db)` with Kysely's schema builder and portable types: text, bigint,
 * integer), then append it to this list — a one-line change. Never edit or reorder a
 * migration that has shipped; never reuse a name.
 */
import type { Migration } from './migration.js';
import { initialMigration } from './001-initial.js';
import { pointsMigration } from './002-points.js';
import { pointChunksMigration } from './003-point-chunks.js';
import { hostMetadataWithoutKeysMigration } from './004-host-metadata-without-keys.js';
import { userLifecycleMigration } from './005-user-lifecycle.js';
import { eventsAndSketchesMigration } from './006-events-and-sketches.js';
import { relayUpstreamsMigration } from './007-relay-upstreams.js';
import { keySettingsAndMetricMetadataMigration } from './008-key-settings-and-metric-metadata.js';
import { keyUsageMinutesMigration } from './009-key-usage-minutes.js';
import { pointChunkRangeIndexMigration } from './010-point-chunk-range-index.js';
import { keyUsageDaysMigration } from './011-key-usage-days.js';
import { relayNodeUpstreamsMigration } from './012-relay-node-upstreams.js';

export type { Migration } from './migration.js';

export const MIGRATIONS: readonly Migration[] = [
  initialMigration,
  pointsMigration, // intake: metric points, hosts, check runs (src/points)
  pointChunksMigration, // points packed one row per series per write (src/points/point-chunk.ts)
  hostMetadataWithoutKeysMigration, // the Agent's API key out of stored host metadata
  userLifecycleMigration, // users.sessions_ended_at, app_keys.disabled_at (disable, delete, password reset)
  eventsAndSketchesMigration, // events and distribution sketches (issue 17: src/intake/event-store.ts, src/points/sketch-store.ts)
  relayUpstreamsMigration, // relay mode: each organisation's upstream and its encrypted upstream key (src/relay)
  keySettingsAndMetricMetadataMigration, // API keys' remote_config_read_enabled and category; metric metadata beyond unit (issue 17)
  keyUsageMinutesMigration, // per-key usage per minute and per-key limits (issue 19: src/intake/usage-minutes.ts, key-limits.ts)
  pointChunkRangeIndexMigration, // metric_chunks indexed for two-sided range reads (src/points/kysely-point-store.ts querySeries)
  keyUsageDaysMigration, // per-key bytes per UTC day beside the minutes: the limits' shared read by primary key (src/intake/key-limits.ts)
  relayNodeUpstreamsMigration, // which upstream version each relay node forwards with: the upstream rotation's confirmation (src/relay/upstream-rotation.ts)
];
