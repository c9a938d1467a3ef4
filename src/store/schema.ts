/**
 * The tables as Kysely sees them. Times are BIGINT epoch milliseconds in both databases (one
 * representation, no timezone or driver date-parsing surprises); ids are UUIDs as text;
 * JSON (scopes, audit details) is text; booleans are 0/1 integers.
 */
export interface OrgsTable {
  id: string;
  name: string;
  created_at: number;
}

export interface UsersTable {
  id: string;
  org_id: string;
  email: string;
  name: string;
  role: string;
  password_hash: string;
  created_at: number;
  disabled: number;
  /** Web sessions that began before this (epoch ms) are over; migration 005. */
  sessions_ended_at: number | null;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  name: string;
  hash: string;
  last4: string;
  status: string;
  created_at: number;
  created_by: string | null;
  modified_at: number;
  modified_by: string | null;
  revoked_at: number | null;
  revoked_by: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  rolled_from_id: string | null;
  /** 0 or 1; migration 008. */
  remote_config_read_enabled: number;
  /** Migration 008; 'default' unless set. */
  category: string;
}

export interface AppKeysTable {
  id: string;
  org_id: string;
  owner_id: string;
  name: string;
  hash: string;
  last4: string;
  scopes: string | null;
  created_at: number;
  modified_at: number;
  last_used_at: number | null;
  /** Set when the key stopped working with its owner (disabled, password reset); migration 005. */
  disabled_at: number | null;
}

export interface AuditEventsTable {
  id: string;
  org_id: string;
  actor_id: string | null;
  actor_kind: string;
  action: string;
  target_type: string;
  target_id: string | null;
  source_ip: string | null;
  at: number;
  details: string;
}

export interface KeyHostUsageTable {
  key_id: string;
  host: string;
  first_seen: number;
  last_seen: number;
  points: number;
  agent_version: string | null;
}

/** Relay mode: an organisation's upstream (migration 007; src/relay). */
export interface RelayUpstreamsTable {
  org_id: string;
  mode: string;
  site: string;
  metrics_url: string | null;
  logs_url: string | null;
  traces_url: string | null;
  /** AES-256-GCM, src/relay/upstream-crypto.ts; never the key in clear. */
  encrypted_api_key: string;
  api_key_last4: string;
  updated_at: number;
  updated_by: string | null;
}

/** A relay node's heartbeat (migration 012; src/relay/upstream-directory.ts): one row per node. */
export interface RelayNodesTable {
  node_id: string;
  /** Epoch ms of the node's last report. */
  reported_at: number;
  /** The node's REKEY_RELAY_POLL_MS: how often it reports at least. */
  poll_ms: number;
}

/** Which upstream version a relay node forwards an organisation's payloads with (migration 012), written when it changes. */
export interface RelayNodeUpstreamsTable {
  node_id: string;
  org_id: string;
  /** `upstreamVersion` (src/relay/upstream-directory.ts): a hash over the site, URLs and encrypted key, never the key. */
  upstream_version: string;
}

/** One API key's use in one minute (migration 009; src/intake/usage-minutes.ts). */
export interface KeyUsageMinutesTable {
  key_id: string;
  /** The minute's start, epoch ms. */
  minute: number;
  requests: number;
  bytes: number;
  points: number;
  hosts: number;
}

/** One API key's body bytes in one UTC day, the sum of its minutes' (migration 011; src/intake/key-limits.ts). */
export interface KeyUsageDaysTable {
  key_id: string;
  /** The UTC day's start, epoch ms. */
  day: number;
  bytes: number;
}

/** An API key's optional limits (migration 009; src/intake/key-limits.ts). */
export interface ApiKeyLimitsTable {
  key_id: string;
  org_id: string;
  requests_per_second: number | null;
  points_per_minute: number | null;
  bytes_per_day: number | null;
  updated_at: number;
  updated_by: string | null;
}

export interface DeploymentSettingsTable {
  name: string;
  value: string;
}

export interface MigrationsTable {
  name: string;
  applied_at: number;
}

export interface Database {
  orgs: OrgsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  app_keys: AppKeysTable;
  audit_events: AuditEventsTable;
  key_host_usage: KeyHostUsageTable;
  deployment_settings: DeploymentSettingsTable;
  relay_upstreams: RelayUpstreamsTable;
  relay_nodes: RelayNodesTable;
  relay_node_upstreams: RelayNodeUpstreamsTable;
  key_usage_minutes: KeyUsageMinutesTable;
  key_usage_days: KeyUsageDaysTable;
  api_key_limits: ApiKeyLimitsTable;
  rekey_migrations: MigrationsTable;
}
