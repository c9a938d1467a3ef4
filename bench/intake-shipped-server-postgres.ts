/**
 * The intake of the server users run on PostgreSQL (REKEY_DATABASE_URL set to a fresh database
 * on REKEY_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres, dropped
 * after the run) against a bare `node:http` JSON floor; the measurement is
 * bench/support/json-intake-bench.ts. Goal (issue 18): ≥ 0.50 of the floor, on the median and
 * the worst round.
 *
 * Usage: node --import tsx bench/intake-shipped-server-postgres.ts [--seconds 5] [--rounds 5] [--connections 20]
 * Writes bench/results/intake-shipped-server-postgres.json.
 */
import { runJsonIntakeBench } from './support/json-intake-bench.js';

await runJsonIntakeBench('postgres', 'intake-shipped-server-postgres');
