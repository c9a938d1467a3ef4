/**
 * A fresh, throwaway PostgreSQL database for a test file.
 *
 * With `REKEY_TEST_DATABASE_URL` (CI: the machine's server) a uniquely named database
 * `rekey_t_<random>` is created on that server; otherwise one embedded PostgreSQL server
 * (test/support/embedded-postgres.ts) is started per test process in a temp directory and the
 * database is created there. Never skips: if neither works, the test fails loudly.
 *
 * @example
 *   const db = await createTestDatabase();
 *   after(() => db.drop());
 *   const store = await openStore({ databaseUrl: db.url });
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { EmbeddedPostgres } from './embedded-postgres.js';

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

/** Runs one statement on a server (CREATE/DROP DATABASE), on a connection of its own. */
export async function onServer(serverUrl: string, statement: string): Promise<void> {
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
  embedded ??= EmbeddedPostgres.start().then((server) => server.url);
  return embedded;
}
