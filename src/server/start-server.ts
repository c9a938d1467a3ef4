/**
 * `rekey server`'s implementation: open the store (SQLite in the data directory, or
 * PostgreSQL), initialise an empty deployment and print its credentials once, listen, and
 * shut down gracefully on SIGTERM/SIGINT (stop accepting, finish in-flight requests and the
 * intake's flushes, close the store).
 *
 * Credentials go to stdout exactly once, never through the logger; log lines are pino JSON
 * on stderr, so `stdout` stays the human (or `--json`) channel.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { isRekeyError, rekeyError } from '../errors.js';
import { createKeyHasher, type KeyHasher } from '../keys/key-hasher.js';
import type { BootstrapCredentials } from '../store/bootstrap.js';
import { DEFAULT_DATA_DIR, describeStoreLocation, openStore, type StoreLocation } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { intakeLimitsFromEnv } from '../intake/intake-env.js';
import { relaySettingsFromEnv } from '../relay/relay.js';
import { buildApp } from './app.js';
import { createServerLogger } from './logger.js';

export interface ServerOptions {
  location: StoreLocation;
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  json?: boolean;
  logLevel?: string;
  /** `--trust-proxy`: a hop count or the proxies' addresses/CIDRs (app.ts `parseTrustProxy`). */
  trustProxy?: number | string[];
  /** Initialises an empty store; throws ALREADY_INITIALISED if another node won the race. */
  bootstrap: (store: Store, hasher: KeyHasher) => Promise<BootstrapCredentials>;
  /** Where credentials and the listening line go. Default process.stdout. */
  out?: NodeJS.WritableStream;
  /** Default: pino JSON on stderr. */
  logger?: Logger;
  /** With SQLite: how often the intake saves journaled points into the database (default 1000 ms). */
  intakeSaveIntervalMs?: number;
  /**
   * `process` (default): a 202 survives a crash of rekey (SIGKILL); `power`: it also survives
   * a power cut — the intake journal is fdatasync()ed before each 202 (once per group-committed
   * batch) and SQLite commits with synchronous=FULL. docs/operations.md#durability.
   */
  durability?: Durability;
}

export type Durability = 'process' | 'power';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Stops the server and closes the store; idempotent. */
  close(): Promise<void>;
}

const SHUTDOWN_TIMEOUT_MS = 10_000;
/** In the data directory: the intake's journal (src/points/point-journal.ts). */
export const INTAKE_JOURNAL_DIR_NAME = 'intake-journal';

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const out = options.out ?? process.stdout;
  const logger = options.logger ?? createServerLogger({ level: options.logLevel ?? 'info', stream: process.stderr });
  const https = options.tls === undefined ? undefined : readTls(options.tls);
  // Bad REKEY_INTAKE_* settings fail here, before a new store is initialised: a start that
  // failed after printing the first credentials would leave them shown once and then lost.
  intakeLimitsFromEnv(process.env);
  const relay = relaySettingsFromEnv(process.env, resolve(options.location.dataDir ?? DEFAULT_DATA_DIR));

  const store = await openStore(options.location);
  let app: FastifyInstance | undefined;
  try {
    // power: every SQLite commit reaches the disk before it returns, so the journal's saved
    // batches (whose files are then deleted) and every management write survive a power cut.
    if (options.durability === 'power' && store.dialect === 'sqlite') await sql`pragma synchronous = FULL`.execute(store.sharedTables().db);
    const hasher = createKeyHasher(await store.deploymentSecret());
    if (!(await store.isInitialised())) {
      try {
        const credentials = await options.bootstrap(store, hasher);
        printCredentials(out, credentials, describeStoreLocation(options.location), options.json ?? false);
      } catch (error) {
        // Another node initialised the same database between our check and our bootstrap.
        if (!isRekeyError(error, 'ALREADY_INITIALISED')) throw error;
      }
    }
    app = await buildApp({
      store,
      hasher,
      logger,
      defaultMetrics: true,
      // With SQLite the intake journals batches next to the database (point-journal.ts). With
      // PostgreSQL each batch is committed to the database: the data directory may be a
      // container's throwaway layer, and the database is the shared durable place.
      intake: {
        ...(options.location.databaseUrl ? {} : { journalDir: join(resolve(options.location.dataDir ?? DEFAULT_DATA_DIR), INTAKE_JOURNAL_DIR_NAME) }),
        ...(options.intakeSaveIntervalMs === undefined ? {} : { journalSaveIntervalMs: options.intakeSaveIntervalMs }),
        ...(options.durability === undefined ? {} : { durability: options.durability }),
      },
      relay,
      ...(https === undefined ? {} : { https }),
      ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    });
    await listen(app, options.host, options.port);
  } catch (error) {
    await app?.close().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${https === undefined ? 'http' : 'https'}://${host}:${port}`;
  if (!options.json) out.write(`rekey server listening on ${url} (store: ${store.dialect} ${describeStoreLocation(options.location)})\n`);

  let closing: Promise<void> | undefined;
  const running = app;
  return {
    app: running,
    url,
    close: () =>
      (closing ??= (async () => {
        await running.close();
        await store.close();
        logger.flush();
      })()),
  };
}

/** Runs until SIGTERM or SIGINT, then shuts down gracefully; a second signal forces exit. */
export async function runServerUntilSignal(options: ServerOptions): Promise<void> {
  const server = await startServer(options);
  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`rekey server: ${signal} again, exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      server.app.log.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        process.stderr.write(`rekey server: shutdown took over ${SHUTDOWN_TIMEOUT_MS} ms, exiting\n`);
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      server.close().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw rekeyError('TLS_FILES_UNREADABLE', { file, reason: (error as NodeJS.ErrnoException).code ?? String(error) }, { cause: error });
    }
  };
  return { cert: read(tls.certFile), key: read(tls.keyFile) };
}

async function listen(app: FastifyInstance, host: string, port: number): Promise<void> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      const reason = code === 'EADDRINUSE' ? 'the port is already in use' : code === 'EACCES' ? 'permission denied' : 'no such address on this machine';
      throw rekeyError('LISTEN_FAILED', { address: `${host}:${port}`, reason }, { cause: error });
    }
    throw error;
  }
}

function printCredentials(out: NodeJS.WritableStream, c: BootstrapCredentials, where: string, json: boolean): void {
  if (json) {
    out.write(`${JSON.stringify(c)}\n`);
    return;
  }
  out.write(
    [
      `rekey: initialised a new deployment (${where}).`,
      'These credentials are shown ONCE; store them now (a password manager or secret store).',
      `  organization:     ${c.org.name} (${c.org.id})`,
      `  admin email:      ${c.admin.email}`,
      `  admin password:   ${c.admin.password}`,
      `  API key:          ${c.api_key.key}   (id ${c.api_key.id})`,
      `  application key:  ${c.app_key.key}   (id ${c.app_key.id})`,
      '',
    ].join('\n'),
  );
}
