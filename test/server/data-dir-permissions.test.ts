/**
 * Issue 15, rows 9 and 13: the data directory and every file of the database are private to
 * the server's user (directory 0700, `rekey.db`, `-wal`, `-shm` and the intake journal 0600,
 * whatever the umask), an existing 0644 database is narrowed when opened, and a data
 * directory that cannot be created (`/proc/x`) is a one-line error, not a CPU-bound hang.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import { runRekey } from '../support/processes.js';
import { startServerProcess } from '../support/server-process.js';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('data directory and database file permissions', () => {
  const root = mkdtempSync(join(tmpdir(), 'rekey-perms-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;

  it('a new data directory is 0700 and rekey.db, -wal, -shm and the intake journal are 0600 while the server runs', { timeout: 60_000 }, async () => {
    const dataDir = join(root, 'new', 'data'); // two levels that do not exist yet
    // Save only every hour, so the intake journal file is still there to be looked at.
    const server = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env: { ...env, REKEY_INTAKE_SAVE_INTERVAL_MS: '3600000' } });
    try {
      const apiKey = server.credentials?.apiKey?.key;
      assert.ok(apiKey);
      const now = Math.floor(Date.now() / 1000);
      const response = await fetch(`${server.url}/api/v2/series`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'dd-api-key': apiKey },
        body: JSON.stringify({
          series: [{ metric: 'perms.check', type: 3, points: [{ timestamp: now, value: 1 }], resources: [{ name: 'web-1', type: 'host' }] }],
        }),
      });
      assert.equal(response.status, 202);
      assert.equal(modeOf(join(root, 'new')), '700');
      assert.equal(modeOf(dataDir), '700');
      for (const name of ['rekey.db', 'rekey.db-wal', 'rekey.db-shm', 'secret.key']) {
        assert.ok(existsSync(join(dataDir, name)), `${name} exists while the server runs`);
        assert.equal(modeOf(join(dataDir, name)), '600', name);
      }
      const journal = join(dataDir, 'intake-journal');
      const journalFiles = readdirSync(journal);
      assert.ok(journalFiles.length > 0, 'the intake journal has a file');
      assert.equal(modeOf(journal), '700');
      for (const name of journalFiles) assert.equal(modeOf(join(journal, name)), '600', name);
    } finally {
      await server.stop('SIGTERM');
    }
  });

  it('an existing database left 0644 (older rekey) is narrowed to 0600 with its -wal and -shm when opened', async () => {
    const dataDir = join(root, 'old');
    const first = await openStore({ dataDir });
    await first.isInitialised();
    for (const name of readdirSync(dataDir)) chmodSync(join(dataDir, name), 0o644);
    const second = await openStore({ dataDir }); // first is still open: -wal and -shm exist
    try {
      for (const name of ['rekey.db', 'rekey.db-wal', 'rekey.db-shm']) assert.equal(modeOf(join(dataDir, name)), '600', name);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('`rekey init --data /proc/x` fails at once with one line instead of spinning', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const result = await runRekey(['init', '--data', '/proc/x'], { env, timeoutMs: 20_000 });
    assert.equal(result.signal, null, `it ended by itself (killed after 20 s: ${result.signal})`);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /The data directory \/proc\/x is not writable \(ENOENT\); choose another with --data or REKEY_DATA/);
    assert.ok(Date.now() - started < 20_000);
  });
});
