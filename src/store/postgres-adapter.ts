/**
 * PostgreSQL (pg) behind the store, for several stateless server nodes sharing one database.
 * Key-changing transactions lock the organisation's row (`SELECT … FOR UPDATE`), so the
 * invariants hold across every connection of every node; revocations are announced with
 * `pg_notify` inside the transaction (delivered only on commit) and heard by every node
 * through one dedicated LISTEN connection.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { RekeyError, rekeyError } from '../errors.js';
import { loadDeploymentSecret } from '../keys/key-hasher.js';
import type { Database } from './schema.js';
import type { StoreAdapter, WriteScope } from './store-adapter.js';
import type { KeyChange, KeyChangeListener, UpstreamChangeListener } from './store.js';

export const KEY_CHANGES_CHANNEL = 'rekey_key_changes';
/** Relay upstream settings changed (`setUpstream`); the payload is `{orgId, source}`. */
export const UPSTREAM_CHANGES_CHANNEL = 'rekey_upstream_changes';
/** Advisory lock taken by deployment-wide writers (migrations); any constant unique to rekey. */
const DEPLOYMENT_LOCK = 7_265_107_101;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** The `Retry-After` of a DATABASE_UNAVAILABLE answer: about how long a restart takes. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** Node socket errors that mean "no connection to the database", not "the query was wrong". */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN']);
/** pg's own messages for a connection that is gone or never came (it gives them no code). */
const CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/**
 * The catalogue error for a failure that means the database cannot be reached (refused,
 * reset, shutting down or starting up, too many connections), or undefined for any other
 * failure (a constraint, a bad query: those stay what they are).
 *
 * @example
 *   catch (error) { throw asDatabaseUnavailable(error) ?? error; }
 */
export function asDatabaseUnavailable(error: unknown): RekeyError | undefined {
  if (error instanceof RekeyError) return error.code === 'DATABASE_UNAVAILABLE' ? error : undefined;
  const reason = connectionFailure(error);
  if (reason === undefined) return undefined;
  return rekeyError('DATABASE_UNAVAILABLE', { reason, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS }, { cause: error });
}

function connectionFailure(error: unknown): string | undefined {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (e === null || typeof e !== 'object') return undefined;
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === '57P01' || code === '57P02') return 'the database server is shutting down';
  if (code === '57P03') return 'the database server is starting up';
  if (code === '53300') return 'the database server has too many connections';
  // Class 08 is "connection exception", except 08P01 (protocol violation): what PostgreSQL
  // answers a query the client could not encode, e.g. more than 65,535 bind parameters ("bind
  // message has 4464 parameter formats but 0 parameters"). The connection is fine and the same
  // query fails again, so it is a bug to report, not an outage to retry.
  if (code === '08P01') return undefined;
  if (/^08[0-9A-Z]{3}$/.test(code)) return 'the connection to the database failed';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (CONNECTION_ERRNOS.has(code)) return `connection failed: ${code}`;
  if (typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message)) return 'the connection to the database was lost';
  // Node's happy-eyeballs connect fails with an AggregateError of one error per address.
  if (Array.isArray(e.errors) && e.errors.length > 0) return connectionFailure(e.errors[0]);
  return undefined;
}

/**
 * The pool as Kysely sees it, with every connection failure turned into DATABASE_UNAVAILABLE
 * (503 with Retry-After), whichever route, plugin or background task meets it.
 */
function guardedPool(pool: pg.Pool): PostgresPool {
  const guard = (error: unknown): never => {
    throw asDatabaseUnavailable(error) ?? error;
  };
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect().catch(guard);
      return {
        query: ((...args: [string, ReadonlyArray<unknown>]) => {
          const result = (client.query as (...a: unknown[]) => unknown)(...args);
          return result instanceof Promise ? result.catch(guard) : result;
        }) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}

/**
 * pg returns BIGINT as a string to be safe beyond 2^53; rekey's BIGINTs are epoch
 * milliseconds, counts and point totals, all far below it, so they are parsed as numbers.
 */
function pgTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  return types;
}

export interface PostgresAdapterOptions {
  connectionString: string;
  /** Pool size per store. Default 10. */
  maxConnections?: number;
  connectionTimeoutMillis?: number;
}

export function createPostgresAdapter(options: PostgresAdapterOptions): StoreAdapter {
  const types = pgTypes();
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    // pg applies this to waiting for a free pooled client too, and under a burst of writes to
    // one org a transaction can queue behind many others for its connection: be generous.
    // (openStore probes reachability with its own, short timeout.)
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 60_000,
    types,
  });
  // An idle client that loses its connection emits here; without a handler it would crash
  // the process. The pool discards it and the next query gets a fresh connection.
  pool.on('error', () => {});
  // pg-pool removes its own 'error' listener while a client is checked out (inside a
  // transaction, or between a transaction's statements), and a restart of PostgreSQL sends
  // every connection 57P01 at that moment: without this listener the node crashes. The
  // client's next query fails (DATABASE_UNAVAILABLE) and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardedPool(pool) }) });
  const instanceId = randomUUID();
  const feed = new NotificationFeed(options.connectionString, types, instanceId);
  let secret: Promise<Buffer> | undefined;

  return {
    dialect: 'postgres',
    db,

    writeTransaction<T>(scope: WriteScope, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      return db.transaction().execute(async (trx) => {
        if (scope === 'deployment') {
          await sql`select pg_advisory_xact_lock(${sql.lit(DEPLOYMENT_LOCK)})`.execute(trx);
        }
        return fn(trx);
      });
    },

    orgWriteTransaction<T>(orgId: string, fn: (trx: Kysely<Database>, orgExists: boolean) => Promise<T>): Promise<T> {
      return db.transaction().execute(async (trx) => {
        // Every key-changing transaction of this org waits here for the previous one to end;
        // under READ COMMITTED its later statements then see what that one committed.
        const locked = await sql`select id from orgs where id = ${orgId} for update`.execute(trx);
        return fn(trx, locked.rows.length > 0);
      });
    },

    async publishKeyChanges(trx: Kysely<Database>, changes: readonly KeyChange[]): Promise<void> {
      for (const change of changes) {
        const payload = JSON.stringify({ keyId: change.keyId, hash: change.hash, orgId: change.orgId, source: instanceId });
        await sql`select pg_notify(${KEY_CHANGES_CHANNEL}, ${payload})`.execute(trx);
      }
    },

    listenRemoteKeyChanges(listener: KeyChangeListener) {
      return feed.add(listener);
    },

    async publishUpstreamChange(trx: Kysely<Database>, orgId: string): Promise<void> {
      await sql`select pg_notify(${UPSTREAM_CHANGES_CHANNEL}, ${JSON.stringify({ orgId, source: instanceId })})`.execute(trx);
    },

    listenRemoteUpstreamChanges(listener: UpstreamChangeListener) {
      return feed.addUpstream(listener);
    },

    deploymentSecret(): Promise<Buffer> {
      secret ??= (async () => {
        const fromEnv = process.env.REKEY_SECRET;
        if (fromEnv !== undefined && fromEnv !== '') return loadDeploymentSecret({});
        // Created once by whichever node gets there first; every node then reads the same row.
        await db
          .insertInto('deployment_settings')
          .values({ name: 'secret', value: randomBytes(32).toString('hex') })
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
        const row = await db.selectFrom('deployment_settings').select('value').where('name', '=', 'secret').executeTakeFirstOrThrow();
        return Buffer.from(row.value, 'hex');
      })();
      secret.catch(() => (secret = undefined));
      return secret;
    },

    isUniqueViolation(error: unknown): boolean {
      return (error as { code?: unknown } | null)?.code === '23505';
    },

    async close(): Promise<void> {
      await feed.close();
      await db.destroy();
    },
  };
}

/**
 * The one LISTEN connection of a store, shared by all its listeners. When the connection
 * fails, every listener hears `onReset()` (notifications may have been missed) and the feed
 * reconnects with exponential backoff, then resets them once more.
 */
class NotificationFeed {
  private readonly listeners = new Set<KeyChangeListener>();
  private readonly upstreamListeners = new Set<UpstreamChangeListener>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly types: pg.CustomTypesConfig,
    private readonly instanceId: string,
  ) {}

  add(listener: KeyChangeListener): Promise<() => Promise<void>> {
    return this.subscribe(this.listeners, listener);
  }

  addUpstream(listener: UpstreamChangeListener): Promise<() => Promise<void>> {
    return this.subscribe(this.upstreamListeners, listener);
  }

  private get listening(): number {
    return this.listeners.size + this.upstreamListeners.size;
  }

  private async subscribe<L>(set: Set<L>, listener: L): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the store is closed');
    set.add(listener);
    try {
      await this.ensureConnected();
    } catch (error) {
      set.delete(listener);
      throw error;
    }
    return async () => {
      set.delete(listener);
      if (this.listening === 0) await this.disconnect();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.upstreamListeners.clear();
    await this.disconnect();
  }

  private ensureConnected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, types: this.types });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) =>
      message.channel === UPSTREAM_CHANGES_CHANNEL ? this.deliverUpstream(message.payload) : this.deliver(message.payload),
    );
    try {
      await client.connect();
      await client.query(`LISTEN ${KEY_CHANGES_CHANNEL}`);
      await client.query(`LISTEN ${UPSTREAM_CHANGES_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed || this.listening === 0) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.attempt = 0;
  }

  private deliver(payload: string | undefined): void {
    if (!payload) return;
    let change: KeyChange & { source?: string };
    try {
      change = JSON.parse(payload) as KeyChange & { source?: string };
    } catch {
      return;
    }
    // This store already told its listeners, synchronously after its own commit.
    if (change.source === this.instanceId) return;
    const { keyId, hash, orgId } = change;
    for (const listener of this.listeners) {
      try {
        listener.onChange({ keyId, hash, orgId });
      } catch (error) {
        process.emitWarning(`rekey: a key-change listener failed: ${String(error)}`);
      }
    }
  }

  private deliverUpstream(payload: string | undefined): void {
    let change: { orgId?: unknown; source?: unknown };
    try {
      change = JSON.parse(payload ?? '') as { orgId?: unknown; source?: unknown };
    } catch {
      return;
    }
    if (change.source === this.instanceId || typeof change.orgId !== 'string') return;
    for (const listener of this.upstreamListeners) {
      try {
        listener.onChange(change.orgId);
      } catch (error) {
        process.emitWarning(`rekey: an upstream-change listener failed: ${String(error)}`);
      }
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners();
    client.on('error', () => {});
    client.end().catch(() => {});
    this.reset();
    this.scheduleReconnect();
  }

  private reset(): void {
    for (const listener of this.listeners) {
      try {
        listener.onReset();
      } catch (error) {
        process.emitWarning(`rekey: a key-change listener failed: ${String(error)}`);
      }
    }
    for (const listener of this.upstreamListeners) {
      try {
        listener.onReset();
      } catch (error) {
        process.emitWarning(`rekey: an upstream-change listener failed: ${String(error)}`);
      }
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.listening === 0 || this.reconnectTimer) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureConnected().then(
        // Changes made while disconnected were missed: drop everything once more.
        () => this.reset(),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private async disconnect(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
