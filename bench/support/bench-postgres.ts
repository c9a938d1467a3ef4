/**
 * A fresh PostgreSQL database for one benchmark run, on REKEY_BENCH_POSTGRES_URL (default the
 * machine's server, postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards. Unlike the
 * tests' databases (test/support/postgres.ts) it keeps the server's own settings — commits wait
 * for the WAL flush — because a benchmark measures what users run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  /** postgres://… of the new database, for REKEY_DATABASE_URL. */
  url: string;
  /** Drops it (ending its connections). Idempotent. */
  drop(): Promise<void>;
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

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const serverUrl = process.env.REKEY_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `rekey_bench_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return { url: url.toString(), drop: () => (dropped ??= onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}
