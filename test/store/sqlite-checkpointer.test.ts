/**
 * The SQLite write-ahead log is copied into the database file by the checkpointer's worker
 * thread, not inside a request's commit: after a large write the database file grows within
 * a second although the request connection's own automatic checkpoint (the backstop) is far
 * from due — and closing the store stops the worker.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { SQLITE_FILE_NAME } from '../../src/store/sqlite-adapter.js';
import { BACKSTOP_AUTOCHECKPOINT_BYTES } from '../../src/store/sqlite-checkpointer.js';
import { SQLITE } from '../support/dialects.js';

describe('SQLite checkpoints off the request path', () => {
  it('moves committed pages into the database file from another thread', async () => {
    const db = await SQLITE.createStore();
    try {
      const file = join((db.location as { dataDir: string }).dataDir, SQLITE_FILE_NAME);
      const tables = db.store.sharedTables();
      const before = statSync(file).size;
      const payload = Buffer.alloc(64 * 1024, 7);
      await tables.write(async (trx) => {
        await sql`create table checkpoint_probe (data blob not null)`.execute(trx);
        for (let i = 0; i < 64; i++) await sql`insert into checkpoint_probe values (${payload})`.execute(trx);
      });
      // 4 MiB is far below the backstop, so only the worker can have copied them.
      assert.ok(4 * 1024 * 1024 < BACKSTOP_AUTOCHECKPOINT_BYTES / 10);
      const deadline = Date.now() + 10_000;
      while (statSync(file).size < before + 4 * 1024 * 1024 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(statSync(file).size >= before + 4 * 1024 * 1024, `database file ${statSync(file).size} bytes, was ${before}`);
    } finally {
      await db.destroy();
    }
  });
});
