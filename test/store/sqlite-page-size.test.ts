/**
 * A new SQLite database gets 16 KiB pages (fewer WAL writes per commit, sqlite-adapter.ts);
 * a database created with SQLite's default 4 KiB pages keeps them and opens, migrates and
 * works as before.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import { NEW_DATABASE_PAGE_SIZE, SQLITE_FILE_NAME } from '../../src/store/sqlite-adapter.js';
import { CLI_ACTOR } from '../support/dialects.js';

describe('SQLite page size', () => {
  it('is 16 KiB for a new database, and an existing 4 KiB database keeps its pages and works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-page-size-'));
    try {
      const fresh = await openStore({ dataDir: join(dir, 'new') });
      try {
        const [row] = (await sql<{ page_size: number }>`pragma page_size`.execute(fresh.sharedTables().db)).rows;
        assert.equal(row!.page_size, NEW_DATABASE_PAGE_SIZE);
      } finally {
        await fresh.close();
      }

      const oldDir = join(dir, 'old');
      mkdirSync(oldDir);
      const raw = new BetterSqlite3(join(oldDir, SQLITE_FILE_NAME));
      raw.pragma('journal_mode = WAL');
      raw.exec('create table made_by_an_older_release (x integer)');
      raw.close();
      const existing = await openStore({ dataDir: oldDir });
      try {
        const [row] = (await sql<{ page_size: number }>`pragma page_size`.execute(existing.sharedTables().db)).rows;
        assert.equal(row!.page_size, 4096);
        const org = await existing.createOrg('acme', CLI_ACTOR);
        assert.equal((await existing.getOrg(org.id))?.name, 'acme');
      } finally {
        await existing.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
