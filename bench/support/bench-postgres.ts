/**
 * A fresh PostgreSQL database for one benchmark run, on REKEY_BENCH_POSTGRES_URL (default the
 * machine's server, postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards. Unlike the
 * tests' databases (test/support/postgres.ts) it keeps the server's own settings — commits wait
 * for the WAL flush — because a benchmark measures what users run.
 */
import { randomBytes } from 'node:crypto';
import { onServer } from '../../test/support/postgres.js';

export interface BenchDatabase {
  /** postgres://… of the new database, for REKEY_DATABASE_URL. */
  url: string;
  /** Drops it (ending its connections). Idempotent. */
  drop(): Promise<void>;
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
