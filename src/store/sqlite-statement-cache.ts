/**
 * Prepared statements reused by SQL text, for Kysely's SQLite dialect (which prepares every
 * query anew).
 *
 * Why: each better-sqlite3 statement is a native object behind a weak handle. Preparing one per
 * query leaves thousands of them for the garbage collector, and every minor GC has to visit
 * those handles: with a statement per query, minor GCs took 4–6 ms and were the p99 of key
 * create and revoke (bench/management-latency.ts). Reused statements make that cost vanish
 * (preparing itself is only ~6 µs).
 *
 * Bounded: queries with varying text (multi-row inserts, IN lists) would grow the cache without
 * end, so beyond `maxStatements` the least recently used statement is dropped. A statement
 * still busy (an unfinished iterator) is never handed out twice: a fresh one is prepared.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

export function withStatementCache(database: BetterSqlite3.Database, maxStatements = 256): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached !== undefined && !cached.busy) {
        // Most recently used last, so the first key is the one to drop.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached as unknown as SqliteStatement;
      }
      const statement = database.prepare(sql);
      if (cached === undefined) {
        cache.set(sql, statement);
        if (cache.size > maxStatements) cache.delete(cache.keys().next().value!);
      }
      return statement as unknown as SqliteStatement;
    },
    close(): void {
      cache.clear();
      database.close();
    },
  };
}
