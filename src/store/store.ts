/**
 * Long on purpose: the one contract between rekey and its database, each method documented where it is declared.
 *
 * The one contract between rekey and its database. Implemented on embedded SQLite
 * (better-sqlite3) and on PostgreSQL (pg), both through Kysely; one contract test suite runs
 * unchanged against both.
 *
 * The store, not its callers, enforces the invariants of docs/product.md §2, each inside one
 * transaction that also writes the audit event:
 *  - an organisation always has at least one active API key without an expiry
 *    (revoking the last one throws LAST_ACTIVE_API_KEY);
 *  - at most `maxApiKeysPerOrg` (default 50) unrevoked API keys (API_KEY_LIMIT_REACHED);
 *  - names are 1–255 characters (INVALID_NAME);
 *  - a revoked key can be restored within 7 days of its revocation, not after
 *    (RESTORE_WINDOW_PASSED).
 * Every method that takes an `orgId` is scoped to it: another organisation's object is
 * "not found" (API_KEY_NOT_FOUND …), never visible.
 *
 * Keys arrive already hashed (src/keys/key-hasher.ts): the store never sees a key.
 * Times are `Date`s in the interface.
 */

export type Role = 'admin' | 'standard' | 'read_only';
export const ROLES: readonly Role[] = ['admin', 'standard', 'read_only'];

export interface Org {
  id: string;
  name: string;
  createdAt: Date;
}

export interface User {
  id: string;
  orgId: string;
  email: string;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: Date;
  disabled: boolean;
  /**
   * Web sessions that began before this instant are over (set by a disable, a password change
   * or reset); null when never set. The UI checks it on every request, so it ends sessions on
   * every node, and from `rekey user …` too.
   */
  sessionsEndedAt: Date | null;
}

export type ApiKeyStatus = 'active' | 'revoked';

export interface ApiKey {
  id: string; // UUID
  orgId: string;
  name: string;
  hash: string;
  last4: string;
  status: ApiKeyStatus;
  createdAt: Date;
  createdBy: string | null; // user id; null when created by the system (bootstrap)
  modifiedAt: Date;
  modifiedBy: string | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  /** Set when the key was rolled: it stops working at this time. */
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  /** The key this one replaced by a roll, if any. */
  rolledFromId: string | null;
  /** Datadog's Remote Configuration switch of the key (kept and returned; rekey serves no Remote Configuration). */
  remoteConfigReadEnabled: boolean;
  /** Datadog's key category: a free label, 'default' unless set. */
  category: string;
}

/** The settings of an API key besides its secret, as given on create or update. */
export interface ApiKeySettings {
  name: string;
  remoteConfigReadEnabled?: boolean;
  category?: string;
}

export interface AppKey {
  id: string; // UUID
  orgId: string;
  ownerId: string; // user id
  name: string;
  hash: string;
  last4: string;
  scopes: string[] | null;
  createdAt: Date;
  modifiedAt: Date;
  lastUsedAt: Date | null;
  /**
   * When the key stopped working with its owner (the owner was disabled, or had their password
   * reset by an admin); null while it works. A disabled key is refused by management auth.
   */
  disabledAt: Date | null;
}

/** Who makes a change and from where: recorded in the audit trail. */
export interface Actor {
  userId: string | null;
  /** 'user' for API and UI calls, 'cli' for the admin CLI, 'system' for the server itself. */
  kind: 'user' | 'cli' | 'system';
  sourceIp: string | null;
}

export interface AuditEvent {
  id: string;
  orgId: string;
  actorId: string | null;
  actorKind: Actor['kind'];
  /** e.g. api_key.create, api_key.rename, api_key.revoke, api_key.roll, api_key.restore,
   *  app_key.create, app_key.update, app_key.delete, user.create, user.login, user.login_failed,
   *  user.disable, user.enable, user.delete, user.password_change, user.password_reset, org.create */
  action: string;
  targetType: string; // 'api_key' | 'app_key' | 'user' | 'org'
  targetId: string | null;
  sourceIp: string | null;
  at: Date;
  /** Never contains a key; at most its last4. */
  details: Record<string, unknown>;
}

/** One host's use of one API key, aggregated. */
export interface KeyHostUsage {
  keyId: string;
  host: string;
  firstSeen: Date;
  lastSeen: Date;
  points: number;
  agentVersion: string | null;
}

/** A batch entry from the intake's in-memory aggregation; merged into KeyHostUsage. */
export interface KeyUsageDelta {
  keyId: string;
  host: string;
  firstSeen: Date;
  lastSeen: Date;
  points: number;
  agentVersion?: string | null;
}

/**
 * One API key's use in one minute, as the intake counted it (issue 19): requests, body bytes as
 * sent (still compressed), points of series payloads, distinct hosts the payloads named.
 * Several nodes add their requests, bytes and points into one row; `hosts` is the largest
 * count one node wrote for the minute (distinct hosts cannot be summed across nodes).
 */
export interface KeyUsageMinute {
  keyId: string;
  /** The minute's start (a whole minute). */
  minute: Date;
  requests: number;
  bytes: number;
  points: number;
  hosts: number;
}

/** A key's usage written by every node, as the per-key limits count it. */
export interface KeyUsageTotals {
  minutePoints: number;
  dayBytes: number;
}

/** Optional limits of one API key, beyond the node's defaults; null: not limited. */
export interface ApiKeyLimits {
  requestsPerSecond: number | null;
  pointsPerMinute: number | null;
  bytesPerDay: number | null;
}

/** An API key's limits as stored, with who set them. */
export interface StoredApiKeyLimits extends ApiKeyLimits {
  keyId: string;
  orgId: string;
  updatedAt: Date;
  updatedBy: string | null;
}

export interface Page {
  /** 1..100 */
  size: number;
  /** 0-based, as Datadog's page[number]. */
  number: number;
}

export interface TimeRange {
  start?: Date;
  end?: Date;
}

export interface ApiKeyListQuery {
  /** Default 'active' (a revoked key drops out of the list). */
  status?: ApiKeyStatus | 'all';
  /** Case-insensitive substring of the name (or equal to last4). */
  filter?: string;
  createdAt?: TimeRange;
  modifiedAt?: TimeRange;
  sort?: { field: 'created_at' | 'last4' | 'modified_at' | 'name'; direction: 'asc' | 'desc' };
  page?: Page;
  /** Only keys with this Remote Configuration switch. */
  remoteConfigReadEnabled?: boolean;
  /** Only keys of this category (exact). */
  category?: string;
}

export interface AppKeyListQuery {
  ownerId?: string;
  filter?: string;
  createdAt?: TimeRange;
  sort?: { field: 'created_at' | 'last4' | 'name'; direction: 'asc' | 'desc' };
  page?: Page;
}

export interface AuditQuery {
  from?: Date;
  to?: Date;
  action?: string;
  page?: Page;
}

export interface Listed<T> {
  items: T[];
  /** Count of all items matching the query's filters, ignoring paging. */
  totalFiltered: number;
}

/** A change to an API key that caches must hear about (revocation, expiry set, restore). */
export interface KeyChange {
  keyId: string;
  hash: string;
  orgId: string;
}

export interface KeyChangeListener {
  onChange(change: KeyChange): void;
  /** The feed was interrupted (e.g. the LISTEN connection dropped): drop every cached entry. */
  onReset(): void;
}

/** Hears that an organisation's upstream changed (relay mode), on this node or — PostgreSQL — another. */
export interface UpstreamChangeListener {
  onChange(orgId: string): void;
  /** The feed was interrupted: changes may have been missed, read every upstream again. */
  onReset(): void;
}

export type OrgMode = 'standalone' | 'relay';

/**
 * Relay mode (issue 19, src/relay): where an organisation's payloads are forwarded and with
 * which upstream API key. The key arrives already encrypted (src/relay/upstream-crypto.ts),
 * like API keys arrive hashed: the store never sees an upstream key in clear.
 */
export interface UpstreamSettings {
  orgId: string;
  mode: OrgMode;
  /** A Datadog site (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`…) or a base URL. */
  site: string;
  /** Base URLs per kind of payload, when they differ from what `site` gives. */
  urls: { metrics: string | null; logs: string | null; traces: string | null };
  encryptedApiKey: string;
  apiKeyLast4: string;
  updatedAt: Date;
  updatedBy: string | null;
}

/** What a relay node forwards one organisation's payloads with (migration 012): its upstream's version, never the key. */
export interface RelayNodeUpstream {
  nodeId: string;
  orgId: string;
  /** `upstreamVersion` (src/relay/upstream-directory.ts). */
  version: string;
  /** When the node last reported, by the database's clock. */
  reportedAt: Date;
  /** How long ago that was when read, by the database's clock (what liveness is judged by: no other machine's clock is involved). */
  ageMs: number;
  /** How often the node reports at least (its REKEY_RELAY_POLL_MS): it is live while its report is younger than 3 of these (10 s at least). */
  pollMs: number;
}

export interface StoreOptions {
  /** Default 50. */
  maxApiKeysPerOrg?: number;
  /** Default 7 days. */
  restoreWindowMs?: number;
  /** For tests: the clock. Default `() => new Date()`. */
  now?: () => Date;
}

/** The first deployment: its organisation, admin and first keys (hashes only). */
export interface InitialiseInput {
  orgName: string;
  admin: { email: string; name: string; passwordHash: string };
  apiKey: { name: string; hash: string; last4: string };
  appKey: { name: string; hash: string; last4: string };
}

/** What `initialise` made. */
export interface Initialised {
  org: Org;
  admin: User;
  apiKey: ApiKey;
  appKey: AppKey;
}

export interface Store {
  /** 'sqlite' or 'postgres'; for messages and metrics only, never for branching. */
  readonly dialect: 'sqlite' | 'postgres';

  /** Runs pending migrations. Idempotent; called on start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * The secret that keys this deployment's key hashes (`createKeyHasher(secret)`), the same on
   * every node: SQLite → `REKEY_SECRET` or `secret.key` in the data directory; PostgreSQL →
   * `REKEY_SECRET` or a secret created once in the database's `deployment_settings`.
   */
  deploymentSecret(): Promise<Buffer>;

  /**
   * (Added by the intake engineer, for src/points.) The same database for parts that keep
   * their own tables in it (metric points, hosts — migration 002-points): Kysely for reads,
   * and the store's own write path, which on SQLite is the in-process one-writer queue (a
   * second connection would meet better-sqlite3's blocking busy-wait; see sqlite-adapter.ts).
   */
  sharedTables(): SharedTables;

  /** True when at least one organisation exists. */
  isInitialised(): Promise<boolean>;

  /**
   * Creates the first organisation, its admin user, its first API key and application key in
   * one deployment-wide transaction (see src/store/bootstrap.ts for the caller). Of several
   * nodes or `rekey init`s racing on an empty store exactly one succeeds; the others throw
   * ALREADY_INITIALISED and change nothing.
   */
  initialise(input: InitialiseInput, actor: Actor): Promise<Initialised>;

  // ---- organisations and users ----
  createOrg(name: string, actor: Actor): Promise<Org>;
  getOrg(orgId: string): Promise<Org | undefined>;
  /** By id or exact name. */
  findOrg(idOrName: string): Promise<Org | undefined>;
  listOrgs(): Promise<Org[]>;

  createUser(orgId: string, user: { email: string; name: string; role: Role; passwordHash: string }, actor: Actor): Promise<User>;
  getUser(orgId: string, userId: string): Promise<User | undefined>;
  /** Emails are unique across the deployment, compared case-insensitively. */
  findUserByEmail(email: string): Promise<User | undefined>;
  listUsers(orgId: string): Promise<User[]>;

  /**
   * User lifecycle (issue 15). Each runs in one transaction that takes the organisation's lock,
   * checks, changes and writes the audit event, so two admins disabling each other at once
   * cannot leave the organisation without an active admin: the organisation always keeps at
   * least one enabled admin (LAST_ACTIVE_ADMIN, 409).
   *
   * Disabling sets `disabled`, ends the user's web sessions (`sessionsEndedAt`) and disables
   * every application key they own (`disabledAt`; kept, not deleted). Enabling clears
   * `disabled` only: the keys stay disabled unless `enableAppKeys` is true. Disabling a
   * disabled user or enabling an enabled one changes nothing and writes no event.
   * Audited as user.disable / user.enable with the number of keys changed.
   *
   * @example await store.setUserDisabled(org.id, bob.id, true, actor) // bob signed out, his app keys refused
   */
  setUserDisabled(orgId: string, userId: string, disabled: boolean, actor: Actor, options?: { enableAppKeys?: boolean }): Promise<User>;
  /**
   * Deletes the user and every application key they own (their sessions end: the user is
   * gone). Audit events by or about the user are kept; `user.delete` records their email and
   * role. The last active admin cannot be deleted (LAST_ACTIVE_ADMIN).
   */
  deleteUser(orgId: string, userId: string, actor: Actor): Promise<void>;
  /**
   * Replaces the password hash and ends the user's web sessions (the caller starts a new one
   * for a user who changed their own password). `reason` 'change' (the user, who proved the
   * current password) is audited as user.password_change; 'reset' (an admin or the CLI) as
   * user.password_reset and also disables the user's application keys, as a reset is what
   * follows a suspected compromise. Never records the password or its hash.
   */
  setUserPassword(orgId: string, userId: string, passwordHash: string, reason: 'change' | 'reset', actor: Actor): Promise<User>;

  // ---- API keys ----
  createApiKey(orgId: string, key: ApiKeySettings & { hash: string; last4: string }, actor: Actor): Promise<ApiKey>;
  getApiKey(orgId: string, keyId: string): Promise<ApiKey | undefined>;
  listApiKeys(orgId: string, query?: ApiKeyListQuery): Promise<Listed<ApiKey>>;
  renameApiKey(orgId: string, keyId: string, name: string, actor: Actor): Promise<ApiKey>;
  /**
   * Changes what `change` names (Datadog's PATCH): the name is audited as api_key.rename, the
   * other settings as api_key.update (from/to). A revoked key cannot be changed.
   */
  updateApiKey(orgId: string, keyId: string, change: Partial<ApiKeySettings>, actor: Actor): Promise<ApiKey>;
  /** Idempotent on an already revoked key (returns it unchanged, no audit event). */
  revokeApiKey(orgId: string, keyId: string, actor: Actor): Promise<ApiKey>;
  restoreApiKey(orgId: string, keyId: string, actor: Actor): Promise<ApiKey>;
  /**
   * Creates `replacement` and makes the old key expire after `graceMs` (0 revokes it now).
   * If the old key already expires sooner, its expiry is kept: a roll never extends a key's life.
   */
  rollApiKey(
    orgId: string,
    keyId: string,
    replacement: { name?: string; hash: string; last4: string },
    graceMs: number,
    actor: Actor,
  ): Promise<{ previous: ApiKey; replacement: ApiKey }>;
  /** Deployment-wide lookup for authentication; any status (the caller checks status and expiry). */
  findApiKeyByHash(hash: string): Promise<ApiKey | undefined>;

  // ---- application keys ----
  createAppKey(orgId: string, ownerId: string, key: { name: string; hash: string; last4: string; scopes?: string[] | null }, actor: Actor): Promise<AppKey>;
  getAppKey(orgId: string, keyId: string): Promise<AppKey | undefined>;
  listAppKeys(orgId: string, query?: AppKeyListQuery): Promise<Listed<AppKey>>;
  updateAppKey(orgId: string, keyId: string, change: { name?: string; scopes?: string[] | null }, actor: Actor): Promise<AppKey>;
  deleteAppKey(orgId: string, keyId: string, actor: Actor): Promise<void>;
  findAppKeyByHash(hash: string): Promise<AppKey | undefined>;
  /**
   * The application key with this hash and, in the same read, its owner (undefined when the
   * owner row is gone): management authentication needs both on every request, and one read
   * is one database round trip fewer than findAppKeyByHash then getUser.
   */
  findAppKeyWithOwnerByHash(hash: string): Promise<{ appKey: AppKey; owner: User | undefined } | undefined>;

  // ---- audit ----
  /** For events that are not store changes (logins, failed logins). */
  recordAudit(orgId: string, action: string, target: { type: string; id: string | null }, actor: Actor, details?: Record<string, unknown>): Promise<void>;
  listAuditEvents(orgId: string, query?: AuditQuery): Promise<Listed<AuditEvent>>;

  // ---- key usage (written in batches by the intake, never per request) ----
  recordKeyUsage(deltas: KeyUsageDelta[]): Promise<void>;
  listKeyHosts(orgId: string, keyId: string, since?: Date): Promise<KeyHostUsage[]>;
  /**
   * The usage rows of every API key of the organisation (any status), in one query, so a page
   * that shows all keys' hosts costs one round trip, not one per key (issue 8). `since` keeps
   * rows last seen at or after it. Order: most recently seen first, then host, then key id.
   * Example: `(await store.listOrgKeyHosts(orgId, dayAgo)).filter((u) => u.keyId === id).length`.
   */
  listOrgKeyHosts(orgId: string, since?: Date): Promise<KeyHostUsage[]>;

  // ---- per-key usage per minute and limits (issue 19, migration 009) ----
  /**
   * Adds minutes of usage (written by the intake once a minute, never per request): requests,
   * bytes and points are summed into an existing row of the same key and minute, hosts take
   * the larger count. `minute` must be a whole minute.
   */
  recordKeyUsageMinutes(rows: KeyUsageMinute[]): Promise<void>;
  /**
   * The key's minutes in [from, to] (inclusive, by the minute's start), oldest first; minutes
   * without use have no row. API_KEY_NOT_FOUND for a key outside `orgId`.
   */
  listKeyUsageMinutes(orgId: string, keyId: string, range: { from: Date; to: Date }): Promise<KeyUsageMinute[]>;
  /** Deletes the minutes that began before `cutoff` (retention, like points), and the days that ended by it; returns how many minutes. */
  deleteKeyUsageMinutesBefore(cutoff: Date): Promise<number>;
  /**
   * What every node has written for these keys (any organisation): the points of the minute
   * starting at `minute` and the bytes of the UTC day starting at `dayStart` (which must be a
   * day's start) — how the intake's per-key limits count a key across nodes (key-limits.ts).
   * Two primary-key lookups per key, however many minutes the day holds. Keys without rows are
   * left out.
   */
  keyUsageTotals(keyIds: readonly string[], at: { minute: Date; dayStart: Date }): Promise<Map<string, KeyUsageTotals>>;
  /**
   * Sets the key's limits (all null: removes them), audited as `api_key.limits` with the new
   * values. API_KEY_NOT_FOUND outside `orgId`; BAD_REQUEST for a limit that is not a positive
   * whole number.
   */
  setApiKeyLimits(orgId: string, keyId: string, limits: ApiKeyLimits, actor: Actor): Promise<ApiKeyLimits>;
  /** The key's limits (all null when none are set). API_KEY_NOT_FOUND outside `orgId`. */
  getApiKeyLimits(orgId: string, keyId: string): Promise<ApiKeyLimits>;
  /** Every key's limits, every organisation (intake nodes hold them in memory and re-read them). */
  listApiKeyLimits(): Promise<StoredApiKeyLimits[]>;

  // ---- relay mode (issue 19, src/relay) ----
  /** The organisation's upstream, or undefined when none was set (the org is standalone). */
  getUpstream(orgId: string): Promise<UpstreamSettings | undefined>;
  /** Every organisation's upstream (relay nodes poll this, so a change on one node reaches all). */
  listUpstreams(): Promise<UpstreamSettings[]>;
  /**
   * Sets (creates or replaces) the organisation's upstream; audited as `upstream.set` with the
   * site, mode and the key's last 4 characters (ORG_NOT_FOUND for an unknown org).
   */
  setUpstream(orgId: string, settings: Omit<UpstreamSettings, 'orgId' | 'updatedAt' | 'updatedBy'>, actor: Actor): Promise<UpstreamSettings>;
  /**
   * A relay node's heartbeat (migration 012): the upstream version it forwards each
   * organisation's payloads with, and how often it reports (`pollMs`), as of the **database's**
   * current time — never the node's clock, which may be off. Replaces the node's earlier report (an organisation
   * left out loses its row; `[]` forgets the node, as a node stopping does) and deletes every
   * node's rows not reported for an hour after its live window. Not audited: written every poll interval.
   * `backdateMs` is for tests: the report is recorded as made that long before the database's now.
   */
  reportRelayNodeUpstreams(
    node: { id: string; pollMs: number },
    reports: ReadonlyArray<{ orgId: string; version: string }>,
    options?: { backdateMs?: number },
  ): Promise<void>;
  /** Every row the store holds for the organisation, by node id, each with its age by the database's clock: which nodes are live, and with which upstream version. */
  listRelayNodeUpstreams(orgId: string): Promise<RelayNodeUpstream[]>;

  // ---- change feed for caches ----
  /**
   * Calls `listener` after any committed change to an API key's validity (revoke, restore,
   * roll/expiry), from this process and — on PostgreSQL, via LISTEN/NOTIFY — from every
   * other node. Resolves once listening; the returned function stops it.
   */
  watchKeyChanges(listener: KeyChangeListener): Promise<() => Promise<void>>;

  /**
   * Calls `listener` after any committed `setUpstream`, from this process and — on PostgreSQL,
   * via LISTEN/NOTIFY — from every other node and CLI, so relay nodes switch upstream keys at
   * once rather than at their next poll. Resolves once listening; the returned function stops it.
   */
  watchUpstreamChanges(listener: UpstreamChangeListener): Promise<() => Promise<void>>;
}

/** See `Store.sharedTables()`. Typed `any` because the tables belong to other parts' schemas. */
export interface SharedTables {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: import('kysely').Kysely<any>;
  write<T>(fn: (trx: import('kysely').Kysely<any>) => Promise<T>): Promise<T>;
}
