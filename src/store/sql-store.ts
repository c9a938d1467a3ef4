/**
 * Long on purpose: every query and invariant of the Store, once, for both databases (one lock → check → write → audit order).
 *
 * The Store on any SQL database Kysely speaks: every query and every invariant lives here,
 * once; what differs between SQLite and PostgreSQL (locking, notifications, the secret) is
 * the `StoreAdapter`'s job.
 *
 * Every change runs in one `adapter.writeTransaction` that takes the organisation's lock
 * first, then reads, checks the invariant, writes, and writes the audit event; so the checks
 * cannot race, whatever the number of connections, processes or nodes.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Expression, type Kysely, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { rekeyError, type RekeyError } from '../errors.js';
import { MIGRATIONS } from './migrations/index.js';
import { timeOrderedId } from './time-ordered-id.js';
import { runMigrations } from './migrations/run-migrations.js';
import type {
  ApiKeyLimitsTable,
  ApiKeysTable,
  AppKeysTable,
  AuditEventsTable,
  Database,
  KeyHostUsageTable,
  KeyUsageDaysTable,
  KeyUsageMinutesTable,
  RelayUpstreamsTable,
  UsersTable,
} from './schema.js';
import type { StoreAdapter } from './store-adapter.js';
import {
  ROLES,
  type Actor,
  type ApiKey,
  type ApiKeyListQuery,
  type ApiKeySettings,
  type AppKey,
  type AppKeyListQuery,
  type ApiKeyLimits,
  type AuditEvent,
  type AuditQuery,
  type Initialised,
  type InitialiseInput,
  type KeyChange,
  type KeyChangeListener,
  type KeyHostUsage,
  type KeyUsageDelta,
  type KeyUsageMinute,
  type KeyUsageTotals,
  type Listed,
  type Org,
  type Page,
  type Role,
  type SharedTables,
  type Store,
  type StoreOptions,
  type StoredApiKeyLimits,
  type TimeRange,
  type RelayNodeUpstream,
  type UpstreamChangeListener,
  type UpstreamSettings,
  type User,
} from './store.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_NAME_LENGTH = 255;
const MAX_PAGE_SIZE = 100;
/** Rows per multi-row upsert of key usage (7 parameters a row, far below SQLite's limit). */
const USAGE_CHUNK = 500;
/** A relay node (its heartbeat and versions) is deleted this long after its live window (3 of its poll intervals) ended (migration 012): the node is gone. */
const RELAY_NODE_FORGOTTEN_AFTER_MS = 60 * 60 * 1000;

type Trx = Kysely<Database>;

export class SqlStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  private readonly maxApiKeys: number;
  private readonly restoreWindowMs: number;
  private readonly now: () => Date;
  private readonly listeners = new Set<KeyChangeListener>();
  private readonly upstreamListeners = new Set<UpstreamChangeListener>();

  constructor(
    private readonly adapter: StoreAdapter,
    options: StoreOptions = {},
  ) {
    this.dialect = adapter.dialect;
    this.maxApiKeys = options.maxApiKeysPerOrg ?? 50;
    this.restoreWindowMs = options.restoreWindowMs ?? 7 * DAY_MS;
    this.now = options.now ?? (() => new Date());
  }

  private get db(): Kysely<Database> {
    return this.adapter.db;
  }

  async migrate(): Promise<void> {
    await runMigrations(this.adapter, MIGRATIONS, this.now);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.adapter.close();
  }

  deploymentSecret(): Promise<Buffer> {
    return this.adapter.deploymentSecret();
  }

  /** For src/points (see Store.sharedTables): writes go through 'none'-scoped write transactions. */
  sharedTables(): SharedTables {
    const adapter = this.adapter;
    return {
      dialect: adapter.dialect,
      db: adapter.db as Kysely<any>,
      write: (fn) => adapter.writeTransaction('none', (trx) => fn(trx as Kysely<any>)),
    };
  }

  async isInitialised(): Promise<boolean> {
    const row = await this.db.selectFrom('orgs').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }

  // ---- organisations and users -------------------------------------------------------------

  /** Serialised with every deployment-wide writer, so `initialise` sees every org. */
  async createOrg(name: string, actor: Actor): Promise<Org> {
    const orgName = validName(name);
    try {
      return await this.adapter.writeTransaction('deployment', (trx) => this.insertOrg(trx, orgName, actor, this.now().getTime()));
    } catch (error) {
      if (this.adapter.isUniqueViolation(error)) throw rekeyError('DUPLICATE_ORG', { name: orgName }, { cause: error });
      throw error;
    }
  }

  /**
   * The first organisation, its admin user, its first API key and application key, in one
   * deployment-wide transaction: of several nodes or `rekey init`s racing on an empty store,
   * exactly one succeeds and the others get ALREADY_INITIALISED with nothing changed.
   */
  async initialise(input: InitialiseInput, actor: Actor): Promise<Initialised> {
    const orgName = validName(input.orgName);
    const admin = validUser({ ...input.admin, role: 'admin' });
    const apiKeyName = validName(input.apiKey.name);
    const appKeyName = validName(input.appKey.name);
    return this.adapter.writeTransaction('deployment', async (trx) => {
      const any = await trx.selectFrom('orgs').select('id').limit(1).executeTakeFirst();
      if (any) throw rekeyError('ALREADY_INITIALISED', { where: 'This store' });
      const at = this.now().getTime();
      const org = await this.insertOrg(trx, orgName, actor, at);
      const user = await this.insertUser(trx, org.id, admin, actor, at);
      const apiKey = await this.insertApiKey(trx, org.id, { ...input.apiKey, name: apiKeyName }, actor, at);
      const appKey = await this.insertAppKey(trx, org.id, user.id, { ...input.appKey, name: appKeyName }, actor, at);
      return { org, admin: user, apiKey, appKey };
    });
  }

  async getOrg(orgId: string): Promise<Org | undefined> {
    const row = await this.db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirst();
    return row && toOrg(row);
  }

  async findOrg(idOrName: string): Promise<Org | undefined> {
    const row = await this.db
      .selectFrom('orgs')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .orderBy(sql`case when id = ${idOrName} then 0 else 1 end`)
      .executeTakeFirst();
    return row && toOrg(row);
  }

  async listOrgs(): Promise<Org[]> {
    const rows = await this.db.selectFrom('orgs').selectAll().orderBy('created_at').orderBy('name').execute();
    return rows.map(toOrg);
  }

  async createUser(orgId: string, user: { email: string; name: string; role: Role; passwordHash: string }, actor: Actor): Promise<User> {
    const valid = validUser(user);
    try {
      return await this.changeOrg(
        orgId,
        () => rekeyError('ORG_NOT_FOUND', { org: orgId }),
        async (trx, at) => ({
          result: await this.insertUser(trx, orgId, valid, actor, at),
        }),
      );
    } catch (error) {
      if (this.adapter.isUniqueViolation(error)) throw rekeyError('DUPLICATE_EMAIL', { email: valid.email }, { cause: error });
      throw error;
    }
  }

  async getUser(orgId: string, userId: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('org_id', '=', orgId).where('id', '=', userId).executeTakeFirst();
    return row && toUser(row);
  }

  async findUserByEmail(email: string): Promise<User | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where(sql<SqlBool>`lower(email) = ${email.trim().toLowerCase()}`)
      .executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(orgId: string): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('email').execute();
    return rows.map(toUser);
  }

  // ---- user lifecycle (issue 15) -------------------------------------------------------------

  async setUserDisabled(orgId: string, userId: string, disabled: boolean, actor: Actor, options: { enableAppKeys?: boolean } = {}): Promise<User> {
    return this.changeOrg(
      orgId,
      () => rekeyError('USER_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.userRow(trx, orgId, userId);
        if (disabled) {
          if (Number(row.disabled) !== 0) return { result: toUser(row) };
          await this.refuseLastActiveAdmin(trx, row);
          const set = { disabled: 1, sessions_ended_at: at };
          await trx.updateTable('users').set(set).where('id', '=', row.id).execute();
          const keys = await this.disableAppKeysOf(trx, row.id, at);
          await this.audit(trx, orgId, 'user.disable', { type: 'user', id: row.id }, actor, at, {
            email: row.email,
            app_keys_disabled: keys.length,
          });
          return { result: toUser({ ...row, ...set }), changes: keys };
        }
        const wasDisabled = Number(row.disabled) !== 0;
        let enabledKeys = 0;
        if (options.enableAppKeys) {
          const result = await trx
            .updateTable('app_keys')
            .set({ disabled_at: null, modified_at: at })
            .where('owner_id', '=', row.id)
            .where('disabled_at', 'is not', null)
            .executeTakeFirst();
          enabledKeys = Number(result.numUpdatedRows);
        }
        if (!wasDisabled && enabledKeys === 0) return { result: toUser(row) };
        if (wasDisabled) await trx.updateTable('users').set({ disabled: 0 }).where('id', '=', row.id).execute();
        await this.audit(trx, orgId, 'user.enable', { type: 'user', id: row.id }, actor, at, {
          email: row.email,
          app_keys_enabled: enabledKeys,
        });
        return { result: toUser({ ...row, disabled: 0 }) };
      },
    );
  }

  async deleteUser(orgId: string, userId: string, actor: Actor): Promise<void> {
    return this.changeOrg(
      orgId,
      () => rekeyError('USER_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.userRow(trx, orgId, userId);
        await this.refuseLastActiveAdmin(trx, row);
        const keys = await trx.selectFrom('app_keys').select(['id', 'hash', 'org_id']).where('owner_id', '=', row.id).execute();
        // The audit trail keeps the user's id in its events (no foreign key), so it outlives them.
        await trx.deleteFrom('app_keys').where('owner_id', '=', row.id).execute();
        await trx.deleteFrom('users').where('id', '=', row.id).execute();
        await this.audit(trx, orgId, 'user.delete', { type: 'user', id: row.id }, actor, at, {
          email: row.email,
          role: row.role,
          app_keys_deleted: keys.length,
        });
        return { result: undefined, changes: keys.map((k) => ({ keyId: k.id, hash: k.hash, orgId: k.org_id })) };
      },
    );
  }

  async setUserPassword(orgId: string, userId: string, passwordHash: string, reason: 'change' | 'reset', actor: Actor): Promise<User> {
    if (typeof passwordHash !== 'string' || passwordHash === '') {
      throw rekeyError('BAD_REQUEST', { detail: 'A password hash is required' });
    }
    return this.changeOrg(
      orgId,
      () => rekeyError('USER_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.userRow(trx, orgId, userId);
        const set = { password_hash: passwordHash, sessions_ended_at: at };
        await trx.updateTable('users').set(set).where('id', '=', row.id).execute();
        const keys = reason === 'reset' ? await this.disableAppKeysOf(trx, row.id, at) : [];
        await this.audit(trx, orgId, reason === 'reset' ? 'user.password_reset' : 'user.password_change', { type: 'user', id: row.id }, actor, at, {
          email: row.email,
          ...(reason === 'reset' ? { app_keys_disabled: keys.length } : {}),
        });
        return { result: toUser({ ...row, ...set }), changes: keys };
      },
    );
  }

  private async userRow(trx: Trx, orgId: string, userId: string): Promise<UsersTable> {
    const row = await trx.selectFrom('users').selectAll().where('org_id', '=', orgId).where('id', '=', userId).executeTakeFirst();
    if (!row) throw rekeyError('USER_NOT_FOUND');
    return row;
  }

  /** Called under the organisation's lock: an enabled admin must not be the last one to go. */
  private async refuseLastActiveAdmin(trx: Trx, row: UsersTable): Promise<void> {
    if (row.role !== 'admin' || Number(row.disabled) !== 0) return;
    const others = await trx
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('org_id', '=', row.org_id)
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .where('id', '!=', row.id)
      .executeTakeFirstOrThrow();
    if (Number(others.n) === 0) throw rekeyError('LAST_ACTIVE_ADMIN');
  }

  /** Disables the user's working application keys; returns them for the key-change feed. */
  private async disableAppKeysOf(trx: Trx, userId: string, at: number): Promise<KeyChange[]> {
    const keys = await trx.selectFrom('app_keys').select(['id', 'hash', 'org_id']).where('owner_id', '=', userId).where('disabled_at', 'is', null).execute();
    if (keys.length > 0) {
      await trx.updateTable('app_keys').set({ disabled_at: at, modified_at: at }).where('owner_id', '=', userId).where('disabled_at', 'is', null).execute();
    }
    return keys.map((k) => ({ keyId: k.id, hash: k.hash, orgId: k.org_id }));
  }

  // ---- API keys ------------------------------------------------------------------------------

  async createApiKey(orgId: string, key: ApiKeySettings & { hash: string; last4: string }, actor: Actor): Promise<ApiKey> {
    const name = validName(key.name);
    if (key.category !== undefined) validCategory(key.category);
    return this.changeOrg(
      orgId,
      () => rekeyError('ORG_NOT_FOUND', { org: orgId }),
      async (trx, at) => {
        if ((await this.countLiveKeys(trx, orgId, at)) >= this.maxApiKeys) {
          throw rekeyError('API_KEY_LIMIT_REACHED', { limit: this.maxApiKeys });
        }
        return { result: await this.insertApiKey(trx, orgId, { ...key, name }, actor, at) };
      },
    );
  }

  async getApiKey(orgId: string, keyId: string): Promise<ApiKey | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
    return row && toApiKey(row);
  }

  /**
   * Without `page`, every matching key (for internal callers); the HTTP layer passes
   * Datadog's defaults. Sorted by `created_at` ascending unless told otherwise.
   */
  async listApiKeys(orgId: string, query: ApiKeyListQuery = {}): Promise<Listed<ApiKey>> {
    const status = query.status ?? 'active';
    const filtered = this.db
      .selectFrom('api_keys')
      .where('org_id', '=', orgId)
      .$if(status !== 'all', (qb) => qb.where('status', '=', status))
      .$call((qb) => nameOrLast4(qb, query.filter))
      .$call((qb) => inRange(qb, 'created_at', query.createdAt))
      .$call((qb) => inRange(qb, 'modified_at', query.modifiedAt))
      .$if(query.remoteConfigReadEnabled !== undefined, (qb) => qb.where('remote_config_read_enabled', '=', query.remoteConfigReadEnabled ? 1 : 0))
      .$if(query.category !== undefined, (qb) => qb.where('category', '=', query.category!));
    return keyListPage(filtered, query, toApiKey);
  }

  async renameApiKey(orgId: string, keyId: string, name: string, actor: Actor): Promise<ApiKey> {
    return this.updateApiKey(orgId, keyId, { name }, actor);
  }

  async updateApiKey(orgId: string, keyId: string, change: Partial<ApiKeySettings>, actor: Actor): Promise<ApiKey> {
    const newName = change.name === undefined ? undefined : validName(change.name);
    if (change.category !== undefined) validCategory(change.category);
    return this.changeOrg(
      orgId,
      () => rekeyError('API_KEY_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.apiKeyRow(trx, orgId, keyId);
        if (row.status === 'revoked') throw rekeyError('API_KEY_REVOKED');
        const set: Partial<ApiKeysTable> = { modified_at: at, modified_by: actor.userId };
        if (newName !== undefined) set.name = newName;
        if (change.remoteConfigReadEnabled !== undefined) set.remote_config_read_enabled = change.remoteConfigReadEnabled ? 1 : 0;
        if (change.category !== undefined) set.category = change.category;
        const updated: ApiKeysTable = { ...row, ...set };
        await trx.updateTable('api_keys').set(set).where('id', '=', keyId).execute();
        const target = { type: 'api_key', id: keyId };
        if (newName !== undefined) await this.audit(trx, orgId, 'api_key.rename', target, actor, at, { from: row.name, to: newName, last4: row.last4 });
        const settings: Record<string, unknown> = {};
        if (Number(updated.remote_config_read_enabled) !== Number(row.remote_config_read_enabled)) {
          settings.remote_config_read_enabled = { from: Number(row.remote_config_read_enabled) !== 0, to: Number(updated.remote_config_read_enabled) !== 0 };
        }
        if (updated.category !== row.category) settings.category = { from: row.category, to: updated.category };
        if (Object.keys(settings).length > 0) await this.audit(trx, orgId, 'api_key.update', target, actor, at, { ...settings, last4: row.last4 });
        return { result: toApiKey(updated) };
      },
    );
  }

  async revokeApiKey(orgId: string, keyId: string, actor: Actor): Promise<ApiKey> {
    return this.changeOrg(
      orgId,
      () => rekeyError('API_KEY_NOT_FOUND'),
      async (trx, at) => {
        // One read for the key and the invariant's witnesses: the lock is held for its round trips.
        const found = await trx
          .selectFrom('api_keys')
          .selectAll()
          .select((eb) =>
            eb
              .selectFrom('api_keys as other')
              .select(eb.fn.countAll<number>().as('n'))
              .where('other.org_id', '=', orgId)
              .where('other.status', '=', 'active')
              .where('other.expires_at', 'is', null)
              .where('other.id', '!=', keyId)
              .as('permanent_others'),
          )
          .where('org_id', '=', orgId)
          .where('id', '=', keyId)
          .executeTakeFirst();
        if (!found) throw rekeyError('API_KEY_NOT_FOUND');
        const { permanent_others, ...row } = found;
        if (row.status === 'revoked') return { result: toApiKey(row) };
        if (row.expires_at === null && Number(permanent_others) === 0) throw rekeyError('LAST_ACTIVE_API_KEY');
        const change = { status: 'revoked', revoked_at: at, revoked_by: actor.userId, modified_at: at, modified_by: actor.userId };
        await trx.updateTable('api_keys').set(change).where('id', '=', keyId).execute();
        await this.audit(trx, orgId, 'api_key.revoke', { type: 'api_key', id: keyId }, actor, at, {
          name: row.name,
          last4: row.last4,
        });
        return { result: toApiKey({ ...row, ...change }), changes: [keyChange(row)] };
      },
    );
  }

  async restoreApiKey(orgId: string, keyId: string, actor: Actor): Promise<ApiKey> {
    return this.changeOrg(
      orgId,
      () => rekeyError('API_KEY_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.apiKeyRow(trx, orgId, keyId);
        if (row.status !== 'revoked') throw rekeyError('API_KEY_NOT_REVOKED');
        if (row.revoked_at === null || at - row.revoked_at > this.restoreWindowMs) {
          throw rekeyError('RESTORE_WINDOW_PASSED', { days: Math.round(this.restoreWindowMs / DAY_MS) });
        }
        if ((await this.countLiveKeys(trx, orgId, at)) >= this.maxApiKeys) {
          throw rekeyError('API_KEY_LIMIT_REACHED', { limit: this.maxApiKeys });
        }
        const change = { status: 'active', revoked_at: null, revoked_by: null, modified_at: at, modified_by: actor.userId };
        await trx.updateTable('api_keys').set(change).where('id', '=', keyId).execute();
        await this.audit(trx, orgId, 'api_key.restore', { type: 'api_key', id: keyId }, actor, at, {
          name: row.name,
          last4: row.last4,
        });
        return { result: toApiKey({ ...row, ...change }), changes: [keyChange(row)] };
      },
    );
  }

  async rollApiKey(
    orgId: string,
    keyId: string,
    replacement: { name?: string; hash: string; last4: string },
    graceMs: number,
    actor: Actor,
  ): Promise<{ previous: ApiKey; replacement: ApiKey }> {
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw rekeyError('BAD_REQUEST', { detail: 'The grace period must be zero or a positive number of seconds' });
    }
    const newName = replacement.name === undefined ? undefined : validName(replacement.name);
    return this.changeOrg(
      orgId,
      () => rekeyError('API_KEY_NOT_FOUND'),
      async (trx, at) => {
        const row = await this.apiKeyRow(trx, orgId, keyId);
        if (row.status === 'revoked') throw rekeyError('API_KEY_REVOKED');
        const oldIsLive = row.expires_at === null || row.expires_at > at;
        const liveAfter = (await this.countLiveKeys(trx, orgId, at)) + 1 - (graceMs === 0 && oldIsLive ? 1 : 0);
        if (liveAfter > this.maxApiKeys) throw rekeyError('API_KEY_LIMIT_REACHED', { limit: this.maxApiKeys });

        // The replacement keeps the old key's settings: a roll changes the secret, nothing else.
        const fresh = {
          ...newApiKeyRow(orgId, newName ?? row.name, replacement, actor, at),
          rolled_from_id: row.id,
          remote_config_read_enabled: Number(row.remote_config_read_enabled),
          category: row.category,
        };
        await trx.insertInto('api_keys').values(fresh).execute();

        // A roll never extends a key's life: keep an earlier expiry.
        const expiresAt = row.expires_at === null ? at + graceMs : Math.min(row.expires_at, at + graceMs);
        const change =
          graceMs === 0
            ? { status: 'revoked', revoked_at: at, revoked_by: actor.userId, modified_at: at, modified_by: actor.userId }
            : { expires_at: expiresAt, modified_at: at, modified_by: actor.userId };
        await trx.updateTable('api_keys').set(change).where('id', '=', keyId).execute();

        await this.audit(trx, orgId, 'api_key.create', { type: 'api_key', id: fresh.id }, actor, at, {
          name: fresh.name,
          last4: fresh.last4,
          rolled_from: row.id,
        });
        await this.audit(trx, orgId, 'api_key.roll', { type: 'api_key', id: keyId }, actor, at, {
          last4: row.last4,
          replacement_id: fresh.id,
          replacement_last4: fresh.last4,
          grace_ms: graceMs,
          expires_at: graceMs === 0 ? at : expiresAt,
        });
        return {
          result: { previous: toApiKey({ ...row, ...change }), replacement: toApiKey(fresh) },
          changes: [keyChange(row)],
        };
      },
    );
  }

  async findApiKeyByHash(hash: string): Promise<ApiKey | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && toApiKey(row);
  }

  // ---- application keys ----------------------------------------------------------------------

  async createAppKey(
    orgId: string,
    ownerId: string,
    key: { name: string; hash: string; last4: string; scopes?: string[] | null },
    actor: Actor,
  ): Promise<AppKey> {
    const name = validName(key.name);
    return this.changeOrg(
      orgId,
      () => rekeyError('ORG_NOT_FOUND', { org: orgId }),
      async (trx, at) => {
        const owner = await trx.selectFrom('users').select('id').where('org_id', '=', orgId).where('id', '=', ownerId).executeTakeFirst();
        if (!owner) throw rekeyError('USER_NOT_FOUND');
        return { result: await this.insertAppKey(trx, orgId, ownerId, { ...key, name }, actor, at) };
      },
    );
  }

  async getAppKey(orgId: string, keyId: string): Promise<AppKey | undefined> {
    const row = await this.db.selectFrom('app_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
    return row && toAppKey(row);
  }

  async listAppKeys(orgId: string, query: AppKeyListQuery = {}): Promise<Listed<AppKey>> {
    const filtered = this.db
      .selectFrom('app_keys')
      .where('org_id', '=', orgId)
      .$if(query.ownerId !== undefined, (qb) => qb.where('owner_id', '=', query.ownerId!))
      .$call((qb) => nameOrLast4(qb, query.filter))
      .$call((qb) => inRange(qb, 'created_at', query.createdAt));
    return keyListPage(filtered, query, toAppKey);
  }

  async updateAppKey(orgId: string, keyId: string, change: { name?: string; scopes?: string[] | null }, actor: Actor): Promise<AppKey> {
    const name = change.name === undefined ? undefined : validName(change.name);
    return this.changeOrg(
      orgId,
      () => rekeyError('APP_KEY_NOT_FOUND'),
      async (trx, at) => {
        const row = await trx.selectFrom('app_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
        if (!row) throw rekeyError('APP_KEY_NOT_FOUND');
        const set = {
          name: name ?? row.name,
          scopes: change.scopes === undefined ? row.scopes : change.scopes === null ? null : JSON.stringify(change.scopes),
          modified_at: at,
        };
        await trx.updateTable('app_keys').set(set).where('id', '=', keyId).execute();
        await this.audit(trx, orgId, 'app_key.update', { type: 'app_key', id: keyId }, actor, at, {
          last4: row.last4,
          ...(name !== undefined ? { from: row.name, to: name } : {}),
          ...(change.scopes !== undefined ? { scopes: change.scopes } : {}),
        });
        return { result: toAppKey({ ...row, ...set }) };
      },
    );
  }

  /** Also announced on the key-change feed, so a cache that holds the app key drops it. */
  async deleteAppKey(orgId: string, keyId: string, actor: Actor): Promise<void> {
    return this.changeOrg(
      orgId,
      () => rekeyError('APP_KEY_NOT_FOUND'),
      async (trx, at) => {
        const row = await trx.selectFrom('app_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
        if (!row) throw rekeyError('APP_KEY_NOT_FOUND');
        await trx.deleteFrom('app_keys').where('id', '=', keyId).execute();
        await this.audit(trx, orgId, 'app_key.delete', { type: 'app_key', id: keyId }, actor, at, {
          name: row.name,
          last4: row.last4,
        });
        return { result: undefined, changes: [{ keyId: row.id, hash: row.hash, orgId: row.org_id }] };
      },
    );
  }

  async findAppKeyByHash(hash: string): Promise<AppKey | undefined> {
    const row = await this.db.selectFrom('app_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && toAppKey(row);
  }

  async findAppKeyWithOwnerByHash(hash: string): Promise<{ appKey: AppKey; owner: User | undefined } | undefined> {
    const row = await this.db
      .selectFrom('app_keys')
      .leftJoin('users', (join) => join.onRef('users.id', '=', 'app_keys.owner_id').onRef('users.org_id', '=', 'app_keys.org_id'))
      .selectAll('app_keys')
      .select([
        'users.id as owner_id_found',
        'users.email as owner_email',
        'users.name as owner_name',
        'users.role as owner_role',
        'users.password_hash as owner_password_hash',
        'users.created_at as owner_created_at',
        'users.disabled as owner_disabled',
        'users.sessions_ended_at as owner_sessions_ended_at',
      ])
      .where('app_keys.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const { owner_id_found, owner_email, owner_name, owner_role, owner_password_hash, owner_created_at, owner_disabled, owner_sessions_ended_at, ...key } = row;
    const owner =
      owner_id_found === null
        ? undefined
        : toUser({
            id: owner_id_found,
            org_id: key.org_id,
            email: owner_email!,
            name: owner_name!,
            role: owner_role!,
            password_hash: owner_password_hash!,
            created_at: owner_created_at!,
            disabled: owner_disabled!,
            sessions_ended_at: owner_sessions_ended_at ?? null,
          });
    return { appKey: toAppKey(key), owner };
  }

  // ---- audit ---------------------------------------------------------------------------------

  async recordAudit(
    orgId: string,
    action: string,
    target: { type: string; id: string | null },
    actor: Actor,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    // Through a write transaction like every write: see the SQLite adapter on in-process turns.
    await this.adapter.writeTransaction('none', (trx) => this.audit(trx, orgId, action, target, actor, this.now().getTime(), details));
  }

  /** Newest first (ids are time-ordered, so ties on `at` keep their order). */
  async listAuditEvents(orgId: string, query: AuditQuery = {}): Promise<Listed<AuditEvent>> {
    const filtered = this.db
      .selectFrom('audit_events')
      .where('org_id', '=', orgId)
      .$if(query.action !== undefined, (qb) => qb.where('action', '=', query.action!))
      .$call((qb) => inRange(qb, 'at', { start: query.from, end: query.to }));
    const rows = await paged(filtered.selectAll().orderBy('at', 'desc').orderBy('id', 'desc'), query.page).execute();
    return { items: rows.map(toAuditEvent), totalFiltered: await count(filtered) };
  }

  // ---- key usage -----------------------------------------------------------------------------

  async recordKeyUsage(deltas: KeyUsageDelta[]): Promise<void> {
    const merged = mergeDeltas(deltas);
    if (merged.length === 0) return;
    const lastUsed = new Map<string, number>();
    for (const d of merged) lastUsed.set(d.key_id, Math.max(lastUsed.get(d.key_id) ?? 0, d.last_seen));
    await this.adapter.writeTransaction('none', async (trx) => {
      for (let i = 0; i < merged.length; i += USAGE_CHUNK) {
        await trx
          .insertInto('key_host_usage')
          .values(merged.slice(i, i + USAGE_CHUNK))
          .onConflict((oc) =>
            oc.columns(['key_id', 'host']).doUpdateSet({
              first_seen: sql`case when excluded.first_seen < key_host_usage.first_seen then excluded.first_seen else key_host_usage.first_seen end`,
              last_seen: sql`case when excluded.last_seen > key_host_usage.last_seen then excluded.last_seen else key_host_usage.last_seen end`,
              points: sql`key_host_usage.points + excluded.points`,
              agent_version: sql`coalesce(excluded.agent_version, key_host_usage.agent_version)`,
            }),
          )
          .execute();
      }
      // Sorted key order so concurrent batches lock api_keys rows in the same order.
      for (const [keyId, at] of [...lastUsed].sort(([a], [b]) => (a < b ? -1 : 1))) {
        await trx
          .updateTable('api_keys')
          .set({ last_used_at: sql`case when last_used_at is null or last_used_at < ${at} then ${at} else last_used_at end` })
          .where('id', '=', keyId)
          .execute();
      }
    });
  }

  /** Most recently seen first. Throws API_KEY_NOT_FOUND for a key outside `orgId`. */
  async listKeyHosts(orgId: string, keyId: string, since?: Date): Promise<KeyHostUsage[]> {
    if (!(await this.getApiKey(orgId, keyId))) throw rekeyError('API_KEY_NOT_FOUND');
    const rows = await this.db
      .selectFrom('key_host_usage')
      .selectAll()
      .where('key_id', '=', keyId)
      .$if(since !== undefined, (qb) => qb.where('last_seen', '>=', since!.getTime()))
      .orderBy('last_seen', 'desc')
      .orderBy('host')
      .execute();
    return rows.map(toKeyHostUsage);
  }

  /** One join on api_keys (index api_keys_org_status, then key_host_usage's primary key). */
  async listOrgKeyHosts(orgId: string, since?: Date): Promise<KeyHostUsage[]> {
    const rows = await this.db
      .selectFrom('key_host_usage as u')
      .innerJoin('api_keys as k', 'k.id', 'u.key_id')
      .where('k.org_id', '=', orgId)
      .$if(since !== undefined, (qb) => qb.where('u.last_seen', '>=', since!.getTime()))
      .select(['u.key_id', 'u.host', 'u.first_seen', 'u.last_seen', 'u.points', 'u.agent_version'])
      .orderBy('u.last_seen', 'desc')
      .orderBy('u.host')
      .orderBy('u.key_id')
      .execute();
    return rows.map(toKeyHostUsage);
  }

  // ---- per-key usage per minute and limits (migration 009) -----------------------------------

  async recordKeyUsageMinutes(rows: KeyUsageMinute[]): Promise<void> {
    const merged = mergeMinutes(rows);
    if (merged.length === 0) return;
    const days = daysOf(merged);
    await this.adapter.writeTransaction('none', async (trx) => {
      for (let i = 0; i < merged.length; i += USAGE_CHUNK) {
        await trx
          .insertInto('key_usage_minutes')
          .values(merged.slice(i, i + USAGE_CHUNK))
          .onConflict((oc) =>
            oc.columns(['key_id', 'minute']).doUpdateSet({
              requests: sql`key_usage_minutes.requests + excluded.requests`,
              bytes: sql`key_usage_minutes.bytes + excluded.bytes`,
              points: sql`key_usage_minutes.points + excluded.points`,
              hosts: sql`case when excluded.hosts > key_usage_minutes.hosts then excluded.hosts else key_usage_minutes.hosts end`,
            }),
          )
          .execute();
      }
      // The day's bytes, added to in the same transaction: what keyUsageTotals reads (migration 011).
      for (let i = 0; i < days.length; i += USAGE_CHUNK) {
        await trx
          .insertInto('key_usage_days')
          .values(days.slice(i, i + USAGE_CHUNK))
          .onConflict((oc) => oc.columns(['key_id', 'day']).doUpdateSet({ bytes: sql`key_usage_days.bytes + excluded.bytes` }))
          .execute();
      }
    });
  }

  async listKeyUsageMinutes(orgId: string, keyId: string, range: { from: Date; to: Date }): Promise<KeyUsageMinute[]> {
    if (!(await this.getApiKey(orgId, keyId))) throw rekeyError('API_KEY_NOT_FOUND');
    const rows = await this.db
      .selectFrom('key_usage_minutes')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('minute', '>=', range.from.getTime())
      .where('minute', '<=', range.to.getTime())
      .orderBy('minute')
      .execute();
    return rows.map(toKeyUsageMinute);
  }

  async keyUsageTotals(keyIds: readonly string[], at: { minute: Date; dayStart: Date }): Promise<Map<string, KeyUsageTotals>> {
    if (at.dayStart.getTime() % DAY_MS !== 0) throw new Error(`keyUsageTotals: ${at.dayStart.toISOString()} is not the start of a UTC day (a bug)`);
    const totals = new Map<string, KeyUsageTotals>();
    const of = (keyId: string) => {
      let total = totals.get(keyId);
      if (total === undefined) totals.set(keyId, (total = { minutePoints: 0, dayBytes: 0 }));
      return total;
    };
    // Two primary-key lookups per key (migration 011), not a sum over the day's minutes.
    for (let i = 0; i < keyIds.length; i += USAGE_CHUNK) {
      const chunk = keyIds.slice(i, i + USAGE_CHUNK);
      const [days, minutes] = await Promise.all([
        this.db.selectFrom('key_usage_days').select(['key_id', 'bytes']).where('key_id', 'in', chunk).where('day', '=', at.dayStart.getTime()).execute(),
        this.db.selectFrom('key_usage_minutes').select(['key_id', 'points']).where('key_id', 'in', chunk).where('minute', '=', at.minute.getTime()).execute(),
      ]);
      // pg returns bigints as strings; Number() either way.
      for (const row of days) of(row.key_id).dayBytes = Number(row.bytes);
      for (const row of minutes) of(row.key_id).minutePoints = Number(row.points);
    }
    return totals;
  }

  async deleteKeyUsageMinutesBefore(cutoff: Date): Promise<number> {
    const result = await this.adapter.writeTransaction('none', async (trx) => {
      // The days that ended by the cutoff go with their minutes.
      await trx
        .deleteFrom('key_usage_days')
        .where('day', '<=', cutoff.getTime() - DAY_MS)
        .execute();
      return trx.deleteFrom('key_usage_minutes').where('minute', '<', cutoff.getTime()).executeTakeFirst();
    });
    return Number(result.numDeletedRows);
  }

  async setApiKeyLimits(orgId: string, keyId: string, limits: ApiKeyLimits, actor: Actor): Promise<ApiKeyLimits> {
    for (const [name, value] of Object.entries(limits)) {
      if (value !== null && !(Number.isSafeInteger(value) && value > 0))
        throw rekeyError('BAD_REQUEST', { detail: `${name} must be a positive whole number, or null for no limit` });
    }
    return this.changeOrg(
      orgId,
      () => rekeyError('API_KEY_NOT_FOUND'),
      async (trx, at) => {
        await this.apiKeyRow(trx, orgId, keyId);
        const row: ApiKeyLimitsTable = {
          key_id: keyId,
          org_id: orgId,
          requests_per_second: limits.requestsPerSecond,
          points_per_minute: limits.pointsPerMinute,
          bytes_per_day: limits.bytesPerDay,
          updated_at: at,
          updated_by: actor.userId,
        };
        if (limits.requestsPerSecond === null && limits.pointsPerMinute === null && limits.bytesPerDay === null) {
          await trx.deleteFrom('api_key_limits').where('key_id', '=', keyId).execute();
        } else {
          const { key_id: _key, ...changes } = row;
          await trx
            .insertInto('api_key_limits')
            .values(row)
            .onConflict((oc) => oc.column('key_id').doUpdateSet(changes))
            .execute();
        }
        await this.audit(trx, orgId, 'api_key.limits', { type: 'api_key', id: keyId }, actor, at, { ...limits });
        return { result: { ...limits } };
      },
    );
  }

  async getApiKeyLimits(orgId: string, keyId: string): Promise<ApiKeyLimits> {
    if (!(await this.getApiKey(orgId, keyId))) throw rekeyError('API_KEY_NOT_FOUND');
    const row = await this.db.selectFrom('api_key_limits').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    if (row === undefined) return { requestsPerSecond: null, pointsPerMinute: null, bytesPerDay: null };
    const { keyId: _key, orgId: _org, updatedAt: _at, updatedBy: _by, ...limits } = toApiKeyLimits(row);
    return limits;
  }

  async listApiKeyLimits(): Promise<StoredApiKeyLimits[]> {
    const rows = await this.db.selectFrom('api_key_limits').selectAll().orderBy('key_id').execute();
    return rows.map(toApiKeyLimits);
  }

  // ---- relay mode ----------------------------------------------------------------------------

  async getUpstream(orgId: string): Promise<UpstreamSettings | undefined> {
    const row = await this.db.selectFrom('relay_upstreams').selectAll().where('org_id', '=', orgId).executeTakeFirst();
    return row && toUpstream(row);
  }

  async listUpstreams(): Promise<UpstreamSettings[]> {
    const rows = await this.db.selectFrom('relay_upstreams').selectAll().orderBy('org_id').execute();
    return rows.map(toUpstream);
  }

  async setUpstream(orgId: string, settings: Omit<UpstreamSettings, 'orgId' | 'updatedAt' | 'updatedBy'>, actor: Actor): Promise<UpstreamSettings> {
    if (settings.mode !== 'relay' && settings.mode !== 'standalone') throw rekeyError('BAD_REQUEST', { detail: 'mode must be "relay" or "standalone"' });
    return this.changeOrg(
      orgId,
      () => rekeyError('ORG_NOT_FOUND', { org: orgId }),
      async (trx, at) => {
        const row: RelayUpstreamsTable = {
          org_id: orgId,
          mode: settings.mode,
          site: settings.site,
          metrics_url: settings.urls.metrics,
          logs_url: settings.urls.logs,
          traces_url: settings.urls.traces,
          encrypted_api_key: settings.encryptedApiKey,
          api_key_last4: settings.apiKeyLast4,
          updated_at: at,
          updated_by: actor.userId,
        };
        const { org_id: _org, ...changes } = row;
        await trx
          .insertInto('relay_upstreams')
          .values(row)
          .onConflict((oc) => oc.column('org_id').doUpdateSet(changes))
          .execute();
        await this.audit(trx, orgId, 'upstream.set', { type: 'org', id: orgId }, actor, at, {
          site: settings.site,
          mode: settings.mode,
          last4: settings.apiKeyLast4,
        });
        await this.adapter.publishUpstreamChange(trx, orgId);
        return { result: toUpstream(row) };
      },
    ).then((saved) => {
      for (const listener of this.upstreamListeners) {
        try {
          listener.onChange(orgId);
        } catch (error) {
          process.emitWarning(`rekey: an upstream-change listener failed: ${String(error)}`);
        }
      }
      return saved;
    });
  }

  async reportRelayNodeUpstreams(
    node: { id: string; pollMs: number },
    reports: ReadonlyArray<{ orgId: string; version: string }>,
    options: { backdateMs?: number } = {},
  ): Promise<void> {
    const nodeId = node.id;
    const pollMs = Math.max(0, Math.round(node.pollMs));
    const backdateMs = Math.max(0, Math.round(options.backdateMs ?? 0));
    await this.adapter.writeTransaction('none', async (trx) => {
      if (reports.length === 0) {
        // An empty report forgets the node (it stopped, or holds no upstream any more).
        await trx.deleteFrom('relay_node_upstreams').where('node_id', '=', nodeId).execute();
        await trx.deleteFrom('relay_nodes').where('node_id', '=', nodeId).execute();
      } else {
        // The heartbeat: one row per node. The versions are written only where they changed — a
        // row per node and organisation at every poll was 1,000 upserts a second for 20 nodes and
        // 100 relayed organisations at 2 s; now it is 10, plus one read of the node's own rows.
        // When: the database's time, not the node's — the rotation judges its age by the same
        // clock (listRelayNodeUpstreams), so a node whose clock is off looks neither dead nor live.
        await trx
          .insertInto('relay_nodes')
          .values({ node_id: nodeId, reported_at: sql<number>`${this.dbNowMs()} - ${backdateMs}`, poll_ms: pollMs })
          .onConflict((oc) => oc.column('node_id').doUpdateSet({ reported_at: sql`excluded.reported_at`, poll_ms: sql`excluded.poll_ms` }))
          .execute();
        const stored = new Map(
          (await trx.selectFrom('relay_node_upstreams').select(['org_id', 'upstream_version']).where('node_id', '=', nodeId).execute()).map((row) => [
            row.org_id,
            row.upstream_version,
          ]),
        );
        const changed = reports
          .filter((report) => stored.get(report.orgId) !== report.version)
          .map((report) => ({ node_id: nodeId, org_id: report.orgId, upstream_version: report.version }));
        for (let i = 0; i < changed.length; i += USAGE_CHUNK) {
          await trx
            .insertInto('relay_node_upstreams')
            .values(changed.slice(i, i + USAGE_CHUNK))
            .onConflict((oc) => oc.columns(['node_id', 'org_id']).doUpdateSet({ upstream_version: sql`excluded.upstream_version` }))
            .execute();
        }
        // What the node no longer holds, in chunks (a single list of them exceeded SQLite's
        // parameter limit with some 32,766 organisations).
        const held = new Set(reports.map((report) => report.orgId));
        const gone = [...stored.keys()].filter((orgId) => !held.has(orgId));
        for (let i = 0; i < gone.length; i += USAGE_CHUNK) {
          await trx
            .deleteFrom('relay_node_upstreams')
            .where('node_id', '=', nodeId)
            .where('org_id', 'in', gone.slice(i, i + USAGE_CHUNK))
            .execute();
        }
      }
      // Nodes gone for an hour (crashed, or stopped before they could forget themselves) — by the
      // database's clock, not this node's: a node whose clock runs an hour ahead deleted every other
      // node's rows at each report, and a rotation then did not wait for a node stuck on the old key.
      const dbNowMs = this.dbNowMs();
      // An hour after its live window (3 of its poll intervals, upstream-node-confirmation.ts) ended: a node
      // polling every 30 min must not be forgotten before a rotation stops waiting for it.
      const expired = await trx
        .selectFrom('relay_nodes')
        .select('node_id')
        .where('reported_at', '<', sql<number>`${dbNowMs} - ${RELAY_NODE_FORGOTTEN_AFTER_MS}`) // the index narrows to these
        .where(sql<number>`reported_at + 3 * cast(poll_ms as bigint)`, '<', sql<number>`${dbNowMs} - ${RELAY_NODE_FORGOTTEN_AFTER_MS}`)
        .execute();
      for (const { node_id: expiredId } of expired) {
        await trx.deleteFrom('relay_node_upstreams').where('node_id', '=', expiredId).execute();
        await trx.deleteFrom('relay_nodes').where('node_id', '=', expiredId).execute();
      }
    });
  }

  async listRelayNodeUpstreams(orgId: string): Promise<RelayNodeUpstream[]> {
    const rows = await this.db
      .selectFrom('relay_node_upstreams as u')
      .innerJoin('relay_nodes as n', 'n.node_id', 'u.node_id')
      .select(['u.node_id', 'u.org_id', 'u.upstream_version', 'n.reported_at', 'n.poll_ms'])
      .select(sql<number>`${this.dbNowMs()} - ${sql.ref('n.reported_at')}`.as('age_ms'))
      .where('u.org_id', '=', orgId)
      .orderBy('u.node_id')
      .execute();
    return rows.map((row) => ({
      nodeId: row.node_id,
      orgId: row.org_id,
      version: row.upstream_version,
      reportedAt: new Date(Number(row.reported_at)),
      ageMs: Number(row.age_ms),
      pollMs: Number(row.poll_ms),
    }));
  }

  /**
   * The database's current time in epoch ms, as SQL: every relay node's heartbeat is written with
   * it and its age judged by it (reportRelayNodeUpstreams, listRelayNodeUpstreams), so no
   * machine's clock is compared with another's. To the millisecond: a heartbeat's live window is
   * 10 s, and whole seconds (SQLite's strftime('%s'), as this was first written) made an age up to
   * a second off. SQLite's 'now' is one value within a statement; PostgreSQL's clock_timestamp() is the
   * time when evaluated, not the transaction's start.
   */
  private dbNowMs(): RawBuilder<number> {
    return this.dialect === 'postgres'
      ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
      : sql<number>`cast(round(unixepoch('now', 'subsec') * 1000) as integer)`;
  }

  async watchUpstreamChanges(listener: UpstreamChangeListener): Promise<() => Promise<void>> {
    this.upstreamListeners.add(listener);
    const stopRemote = await this.adapter.listenRemoteUpstreamChanges(listener);
    return async () => {
      this.upstreamListeners.delete(listener);
      await stopRemote();
    };
  }

  // ---- change feed ---------------------------------------------------------------------------

  async watchKeyChanges(listener: KeyChangeListener): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    const stopRemote = await this.adapter.listenRemoteKeyChanges(listener);
    return async () => {
      this.listeners.delete(listener);
      await stopRemote();
    };
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * One change to an organisation: holds its lock, checks it exists (else `missing()`), runs
   * `fn`, publishes its key changes inside the transaction and, after the commit and before
   * returning, tells this process's listeners (so a cache is updated before a revoke responds).
   */
  private async changeOrg<T>(
    orgId: string,
    missing: () => RekeyError,
    fn: (trx: Trx, at: number) => Promise<{ result: T; changes?: KeyChange[] }>,
  ): Promise<T> {
    const { result, changes } = await this.adapter.orgWriteTransaction(orgId, async (trx, orgExists) => {
      if (!orgExists) throw missing();
      const outcome = await fn(trx, this.now().getTime());
      if (outcome.changes?.length) await this.adapter.publishKeyChanges(trx, outcome.changes);
      return outcome;
    });
    if (changes) this.emit(changes);
    return result;
  }

  private emit(changes: readonly KeyChange[]): void {
    for (const listener of this.listeners) {
      for (const change of changes) {
        try {
          listener.onChange(change);
        } catch (error) {
          // The change is committed; a failing listener must not make the caller think otherwise.
          process.emitWarning(`rekey: a key-change listener failed: ${String(error)}`);
        }
      }
    }
  }

  private async insertOrg(trx: Trx, name: string, actor: Actor, at: number): Promise<Org> {
    const existing = await trx.selectFrom('orgs').select('id').where('name', '=', name).executeTakeFirst();
    if (existing) throw rekeyError('DUPLICATE_ORG', { name });
    const org = { id: randomUUID(), name, created_at: at };
    await trx.insertInto('orgs').values(org).execute();
    await this.audit(trx, org.id, 'org.create', { type: 'org', id: org.id }, actor, at, { name });
    return toOrg(org);
  }

  private async insertUser(
    trx: Trx,
    orgId: string,
    user: { email: string; name: string; role: Role; passwordHash: string },
    actor: Actor,
    at: number,
  ): Promise<User> {
    const taken = await trx
      .selectFrom('users')
      .select('id')
      .where(sql<SqlBool>`lower(email) = ${user.email.toLowerCase()}`)
      .executeTakeFirst();
    if (taken) throw rekeyError('DUPLICATE_EMAIL', { email: user.email });
    const row: UsersTable = {
      id: randomUUID(),
      org_id: orgId,
      email: user.email,
      name: user.name,
      role: user.role,
      password_hash: user.passwordHash,
      created_at: at,
      disabled: 0,
      sessions_ended_at: null,
    };
    await trx.insertInto('users').values(row).execute();
    await this.audit(trx, orgId, 'user.create', { type: 'user', id: row.id }, actor, at, { email: user.email, role: user.role });
    return toUser(row);
  }

  private async insertApiKey(trx: Trx, orgId: string, key: ApiKeySettings & { hash: string; last4: string }, actor: Actor, at: number): Promise<ApiKey> {
    const row: ApiKeysTable = {
      ...newApiKeyRow(orgId, key.name, key, actor, at),
      remote_config_read_enabled: key.remoteConfigReadEnabled === true ? 1 : 0,
      category: key.category ?? DEFAULT_API_KEY_CATEGORY,
    };
    await trx.insertInto('api_keys').values(row).execute();
    await this.audit(trx, orgId, 'api_key.create', { type: 'api_key', id: row.id }, actor, at, { name: key.name, last4: row.last4 });
    return toApiKey(row);
  }

  private async insertAppKey(
    trx: Trx,
    orgId: string,
    ownerId: string,
    key: { name: string; hash: string; last4: string; scopes?: string[] | null },
    actor: Actor,
    at: number,
  ): Promise<AppKey> {
    const row: AppKeysTable = {
      id: randomUUID(),
      org_id: orgId,
      owner_id: ownerId,
      name: key.name,
      hash: key.hash,
      last4: key.last4,
      scopes: key.scopes == null ? null : JSON.stringify(key.scopes),
      created_at: at,
      modified_at: at,
      last_used_at: null,
      disabled_at: null,
    };
    await trx.insertInto('app_keys').values(row).execute();
    await this.audit(trx, orgId, 'app_key.create', { type: 'app_key', id: row.id }, actor, at, {
      name: key.name,
      last4: row.last4,
      owner_id: ownerId,
    });
    return toAppKey(row);
  }

  private async apiKeyRow(trx: Trx, orgId: string, keyId: string): Promise<ApiKeysTable> {
    const row = await trx.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
    if (!row) throw rekeyError('API_KEY_NOT_FOUND');
    return row;
  }

  /** Keys that count against the cap: not revoked and not past their expiry. */
  private async countLiveKeys(trx: Trx, orgId: string, at: number): Promise<number> {
    const row = await trx
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('org_id', '=', orgId)
      .where('status', '=', 'active')
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async countPermanentKeys(trx: Trx, orgId: string, exceptId: string): Promise<number> {
    const row = await trx
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('org_id', '=', orgId)
      .where('status', '=', 'active')
      .where('expires_at', 'is', null)
      .where('id', '!=', exceptId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async audit(
    trx: Trx,
    orgId: string,
    action: string,
    target: { type: string; id: string | null },
    actor: Actor,
    at: number,
    details: Record<string, unknown>,
  ): Promise<void> {
    const row: AuditEventsTable = {
      id: timeOrderedId(at),
      org_id: orgId,
      actor_id: actor.userId,
      actor_kind: actor.kind,
      action,
      target_type: target.type,
      target_id: target.id,
      source_ip: actor.sourceIp,
      at,
      details: JSON.stringify(details),
    };
    await trx.insertInto('audit_events').values(row).execute();
  }
}

// ---- validation ------------------------------------------------------------------------------

/** Names are 1–255 characters once trimmed; the trimmed name is what is stored. */
function validName(name: string): string {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  if (trimmed.length === 0) throw rekeyError('INVALID_NAME', { detail: 'The name must not be empty' });
  const length = [...trimmed].length;
  if (length > MAX_NAME_LENGTH) {
    throw rekeyError('INVALID_NAME', { detail: `The name has ${length} characters; it must have at most ${MAX_NAME_LENGTH}` });
  }
  return trimmed;
}

function validUser<U extends { email: string; name: string; role: Role; passwordHash: string }>(user: U): U {
  if (!ROLES.includes(user.role)) {
    throw rekeyError('BAD_REQUEST', { detail: `Unknown role "${String(user.role)}"; use one of ${ROLES.join(', ')}` });
  }
  return { ...user, email: validEmail(user.email), name: validName(user.name) };
}

function validEmail(email: string): string {
  const trimmed = typeof email === 'string' ? email.trim() : '';
  if (!/^[^\s@]+@[^\s@]+$/.test(trimmed) || trimmed.length > 320) {
    throw rekeyError('BAD_REQUEST', { detail: `"${trimmed}" is not an email address` });
  }
  return trimmed;
}

// ---- query helpers ---------------------------------------------------------------------------

function nameContains(filter: string): Expression<SqlBool> {
  const pattern = `%${filter.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(name) like ${pattern} escape '\\'`;
}

/** A key list's `filter`: part of the name (any case), or the last 4 characters. */
function nameOrLast4<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>, filter: string | undefined): SelectQueryBuilder<DB, TB, O> {
  if (filter === undefined || filter === '') return qb;
  return qb.where(sql<SqlBool>`(${nameContains(filter)} or last4 = ${filter.toLowerCase()})`);
}

/** One page of a key list in `sort` order (then id, so pages never overlap), and how many keys the filters match. */
async function keyListPage<DB, TB extends keyof DB, O, Row, T>(
  filtered: SelectQueryBuilder<DB, TB, O>,
  query: { sort?: { field: string; direction: 'asc' | 'desc' }; page?: Page },
  toItem: (row: Row) => T,
): Promise<Listed<T>> {
  const sort = query.sort ?? { field: 'created_at', direction: 'asc' };
  const rows = await paged(filtered.selectAll().orderBy(sql.ref(sort.field), sort.direction).orderBy(sql.ref('id'), sort.direction), query.page).execute();
  return { items: (rows as unknown as Row[]).map(toItem), totalFiltered: await count(filtered) };
}

function inRange<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>, column: string, range: TimeRange | undefined): SelectQueryBuilder<DB, TB, O> {
  let result = qb;
  if (range?.start) result = result.where(sql.ref(column), '>=', range.start.getTime());
  if (range?.end) result = result.where(sql.ref(column), '<=', range.end.getTime());
  return result;
}

function paged<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>, page: Page | undefined) {
  if (!page) return qb;
  const size = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(page.size)));
  const number = Math.max(0, Math.floor(page.number));
  return qb.limit(size).offset(number * size);
}

async function count<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>): Promise<number> {
  const row = await qb
    .clearSelect()
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number((row as { n: unknown }).n);
}

function mergeDeltas(deltas: KeyUsageDelta[]) {
  const byKey = new Map<string, { key_id: string; host: string; first_seen: number; last_seen: number; points: number; agent_version: string | null }>();
  for (const d of deltas) {
    const id = `${d.keyId}\u0000${d.host}`;
    const seen = byKey.get(id);
    if (!seen) {
      byKey.set(id, {
        key_id: d.keyId,
        host: d.host,
        first_seen: d.firstSeen.getTime(),
        last_seen: d.lastSeen.getTime(),
        points: d.points,
        agent_version: d.agentVersion ?? null,
      });
    } else {
      seen.first_seen = Math.min(seen.first_seen, d.firstSeen.getTime());
      seen.last_seen = Math.max(seen.last_seen, d.lastSeen.getTime());
      seen.points += d.points;
      seen.agent_version = d.agentVersion ?? seen.agent_version;
    }
  }
  // Sorted so concurrent batches take row locks in the same order (no deadlocks on PostgreSQL).
  return [...byKey.values()].sort((a, b) => (a.key_id + a.host < b.key_id + b.host ? -1 : 1));
}

// ---- row mapping -----------------------------------------------------------------------------

function date(ms: number | string): Date {
  return new Date(Number(ms));
}

function dateOrNull(ms: number | string | null): Date | null {
  return ms === null ? null : new Date(Number(ms));
}

function newApiKeyRow(orgId: string, name: string, key: { hash: string; last4: string }, actor: Actor, at: number): ApiKeysTable {
  return {
    id: randomUUID(),
    org_id: orgId,
    name,
    hash: key.hash,
    last4: key.last4,
    status: 'active',
    created_at: at,
    created_by: actor.userId,
    modified_at: at,
    modified_by: actor.userId,
    revoked_at: null,
    revoked_by: null,
    expires_at: null,
    last_used_at: null,
    rolled_from_id: null,
    remote_config_read_enabled: 0,
    category: DEFAULT_API_KEY_CATEGORY,
  };
}

/** Datadog's category of a key nobody categorised. */
const DEFAULT_API_KEY_CATEGORY = 'default';
const MAX_CATEGORY_LENGTH = 100;

/** A category is a free label (Datadog enumerates none): non-empty, printable, at most 100 characters. */
function validCategory(category: string): string {
  if (category.length === 0 || category.length > MAX_CATEGORY_LENGTH || /[\u0000-\u001f\u007f]/.test(category)) {
    throw rekeyError('BAD_REQUEST', { detail: `category must be 1 to ${MAX_CATEGORY_LENGTH} printable characters` });
  }
  return category;
}

function keyChange(row: ApiKeysTable): KeyChange {
  return { keyId: row.id, hash: row.hash, orgId: row.org_id };
}

/** One row per (key, minute), summed (hosts: the largest), so one insert never names a row twice; sorted. */
function mergeMinutes(rows: KeyUsageMinute[]): KeyUsageMinutesTable[] {
  const byMinute = new Map<string, KeyUsageMinutesTable>();
  for (const r of rows) {
    const minute = r.minute.getTime();
    if (minute % 60_000 !== 0) throw new Error(`key usage minute ${r.minute.toISOString()} is not a whole minute (a bug)`);
    const id = `${r.keyId}\u0000${minute}`;
    const seen = byMinute.get(id);
    if (seen === undefined) byMinute.set(id, { key_id: r.keyId, minute, requests: r.requests, bytes: r.bytes, points: r.points, hosts: r.hosts });
    else {
      seen.requests += r.requests;
      seen.bytes += r.bytes;
      seen.points += r.points;
      seen.hosts = Math.max(seen.hosts, r.hosts);
    }
  }
  // In key and minute order: writers on several nodes then lock the rows they share in one order.
  return [...byMinute.values()].sort((a, b) => (a.key_id < b.key_id ? -1 : a.key_id > b.key_id ? 1 : a.minute - b.minute));
}

/** The bytes of merged minutes per (key, UTC day), in key and day order (every writer locks rows in one order). */
function daysOf(minutes: KeyUsageMinutesTable[]): KeyUsageDaysTable[] {
  const byDay = new Map<string, KeyUsageDaysTable>();
  for (const m of minutes) {
    if (m.bytes === 0) continue;
    const day = m.minute - (m.minute % DAY_MS);
    const id = `${m.key_id}\u0000${day}`;
    const seen = byDay.get(id);
    if (seen === undefined) byDay.set(id, { key_id: m.key_id, day, bytes: m.bytes });
    else seen.bytes += m.bytes;
  }
  return [...byDay.values()].sort((a, b) => (a.key_id < b.key_id ? -1 : a.key_id > b.key_id ? 1 : a.day - b.day));
}

function toKeyUsageMinute(row: KeyUsageMinutesTable): KeyUsageMinute {
  // pg returns bigint as a string unless parsed; Number() either way.
  return {
    keyId: row.key_id,
    minute: new Date(Number(row.minute)),
    requests: Number(row.requests),
    bytes: Number(row.bytes),
    points: Number(row.points),
    hosts: Number(row.hosts),
  };
}

function toApiKeyLimits(row: ApiKeyLimitsTable): StoredApiKeyLimits {
  const orNull = (value: number | null) => (value === null ? null : Number(value));
  return {
    keyId: row.key_id,
    orgId: row.org_id,
    requestsPerSecond: orNull(row.requests_per_second),
    pointsPerMinute: orNull(row.points_per_minute),
    bytesPerDay: orNull(row.bytes_per_day),
    updatedAt: new Date(Number(row.updated_at)),
    updatedBy: row.updated_by,
  };
}

function toUpstream(row: RelayUpstreamsTable): UpstreamSettings {
  return {
    orgId: row.org_id,
    mode: row.mode === 'relay' ? 'relay' : 'standalone',
    site: row.site,
    urls: { metrics: row.metrics_url, logs: row.logs_url, traces: row.traces_url },
    encryptedApiKey: row.encrypted_api_key,
    apiKeyLast4: row.api_key_last4,
    updatedAt: new Date(Number(row.updated_at)),
    updatedBy: row.updated_by,
  };
}

function toOrg(row: { id: string; name: string; created_at: number }): Org {
  return { id: row.id, name: row.name, createdAt: date(row.created_at) };
}

function toUser(row: UsersTable): User {
  return {
    id: row.id,
    orgId: row.org_id,
    email: row.email,
    name: row.name,
    role: row.role as Role,
    passwordHash: row.password_hash,
    createdAt: date(row.created_at),
    disabled: Number(row.disabled) !== 0,
    sessionsEndedAt: dateOrNull(row.sessions_ended_at),
  };
}

function toApiKey(row: ApiKeysTable): ApiKey {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    hash: row.hash,
    last4: row.last4,
    status: row.status as ApiKey['status'],
    createdAt: date(row.created_at),
    createdBy: row.created_by,
    modifiedAt: date(row.modified_at),
    modifiedBy: row.modified_by,
    revokedAt: dateOrNull(row.revoked_at),
    revokedBy: row.revoked_by,
    expiresAt: dateOrNull(row.expires_at),
    lastUsedAt: dateOrNull(row.last_used_at),
    rolledFromId: row.rolled_from_id,
    remoteConfigReadEnabled: Number(row.remote_config_read_enabled) !== 0,
    category: row.category,
  };
}

function toAppKey(row: AppKeysTable): AppKey {
  return {
    id: row.id,
    orgId: row.org_id,
    ownerId: row.owner_id,
    name: row.name,
    hash: row.hash,
    last4: row.last4,
    scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as string[]),
    createdAt: date(row.created_at),
    modifiedAt: date(row.modified_at),
    lastUsedAt: dateOrNull(row.last_used_at),
    disabledAt: dateOrNull(row.disabled_at),
  };
}

function toAuditEvent(row: AuditEventsTable): AuditEvent {
  return {
    id: row.id,
    orgId: row.org_id,
    actorId: row.actor_id,
    actorKind: row.actor_kind as AuditEvent['actorKind'],
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    sourceIp: row.source_ip,
    at: date(row.at),
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

function toKeyHostUsage(row: KeyHostUsageTable): KeyHostUsage {
  return {
    keyId: row.key_id,
    host: row.host,
    firstSeen: date(row.first_seen),
    lastSeen: date(row.last_seen),
    points: Number(row.points), // pg returns bigint as a string
    agentVersion: row.agent_version,
  };
}
