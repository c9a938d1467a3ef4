import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { withStatementCache } from './sqlite-statement-cache.js';

describe('SQLite statement cache', () => {
  const open = (max?: number) => {
    const raw = new BetterSqlite3(':memory:');
    raw.exec('create table t (x integer)');
    return { raw, cached: withStatementCache(raw, max) };
  };

  it('hands out the same prepared statement for the same SQL, and results stay correct', () => {
    const { cached } = open();
    const insert = cached.prepare('insert into t values (?)');
    assert.equal(cached.prepare('insert into t values (?)'), insert);
    for (let i = 0; i < 5; i++) (cached.prepare('insert into t values (?)') as unknown as BetterSqlite3.Statement).run(i);
    const rows = (cached.prepare('select sum(x) as s from t') as unknown as BetterSqlite3.Statement).all() as Array<{ s: number }>;
    assert.equal(rows[0]!.s, 10);
    cached.close();
  });

  it('never hands out a statement that is still iterating', () => {
    const { cached } = open();
    for (let i = 0; i < 3; i++) (cached.prepare('insert into t values (?)') as unknown as BetterSqlite3.Statement).run(i);
    const select = cached.prepare('select x from t order by x') as unknown as BetterSqlite3.Statement;
    const iterator = select.iterate();
    iterator.next();
    const second = cached.prepare('select x from t order by x') as unknown as BetterSqlite3.Statement;
    assert.notEqual(second, select);
    assert.deepEqual(second.all(), [{ x: 0 }, { x: 1 }, { x: 2 }]);
    iterator.return?.();
    cached.close();
  });

  it('keeps at most maxStatements, dropping the least recently used', () => {
    const { cached } = open(2);
    const a = cached.prepare('select 1');
    const b = cached.prepare('select 2');
    assert.equal(cached.prepare('select 1'), a); // a is now the most recent
    cached.prepare('select 3'); // drops b
    assert.equal(cached.prepare('select 1'), a);
    assert.notEqual(cached.prepare('select 2'), b);
    cached.close();
  });
});
