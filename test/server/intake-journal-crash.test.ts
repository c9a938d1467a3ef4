/**
 * A real `rekey server` on SQLite, killed with SIGKILL right after acknowledging points that
 * are only in its intake journal: the next start saves them, and they read back exactly.
 * A SIGTERM instead saves everything before exiting and leaves no journal behind.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServerProcess } from '../support/server-process.js';

const journalDir = (dataDir: string) => join(dataDir, 'intake-journal');
/** Bytes of records: each journal file starts with an 8-byte header (point-journal.ts). */
const journaledBytes = (dataDir: string) =>
  readdirSync(journalDir(dataDir)).reduce((n, name) => n + Math.max(0, statSync(join(journalDir(dataDir), name)).size - 8), 0);

describe('rekey server: the intake journal across a crash', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rekey-journal-crash-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;
  const now = Math.floor(Date.now() / 1000);

  it('saves at the next start every point acknowledged before a SIGKILL, and everything on a SIGTERM', async () => {
    // Saving only every hour: everything acknowledged below is in the journal alone when the process dies.
    const first = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env: { ...env, REKEY_INTAKE_SAVE_INTERVAL_MS: '3600000' } });
    const apiKey = first.credentials?.apiKey?.key;
    const appKey = first.credentials?.appKey;
    assert.ok(apiKey && appKey, 'first start printed the keys');
    const send = async (url: string, metric: string, offset: number) => {
      const response = await fetch(`${url}/api/v2/series`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'dd-api-key': apiKey },
        body: JSON.stringify({
          series: [
            {
              metric,
              type: 3,
              points: Array.from({ length: 10 }, (_, p) => ({ timestamp: now - 600 + offset * 10 + p, value: offset * 10 + p })),
              resources: [{ name: 'web-1', type: 'host' }],
            },
          ],
        }),
      });
      assert.equal(response.status, 202);
    };
    const pointsOf = async (url: string, metric: string) => {
      const response = await fetch(`${url}/api/v1/query?from=${now - 3600}&to=${now}&query=${encodeURIComponent(`sum:${metric}{*}`)}`, {
        headers: { 'dd-api-key': apiKey, 'dd-application-key': appKey },
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { series: Array<{ pointlist: Array<[number, number]> }> };
      return body.series[0]?.pointlist.map(([, value]) => value) ?? [];
    };
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => send(first.url, 'crash.points', i)));
      assert.ok(journaledBytes(dataDir) > 0, 'the acknowledged points are in the journal');
    } finally {
      assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');
    }

    const second = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'info'], env });
    try {
      assert.deepEqual(
        await pointsOf(second.url, 'crash.points'),
        Array.from({ length: 300 }, (_, i) => i),
        'all 300 acknowledged points, once each',
      );
      assert.match(second.stderr(), /intake journal: points an earlier run acknowledged are saved/);
      assert.equal(journaledBytes(dataDir), 0, 'the recovered journal is deleted');
      await Promise.all(Array.from({ length: 5 }, (_, i) => send(second.url, 'term.points', i)));
    } finally {
      assert.equal((await second.stop('SIGTERM')).code, 0);
    }
    assert.deepEqual(readdirSync(journalDir(dataDir)), [], 'a graceful stop saves everything and leaves no journal');

    const third = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env });
    try {
      assert.deepEqual(
        await pointsOf(third.url, 'term.points'),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.equal((await pointsOf(third.url, 'crash.points')).length, 300, 'nothing saved twice');
    } finally {
      await third.stop('SIGTERM');
    }
  });

  it('does not start, and says which entry and what to do, when an intake journal entry cannot be read', async () => {
    const brokenDataDir = mkdtempSync(join(tmpdir(), 'rekey-journal-unreadable-'));
    try {
      // A directory under a dead process's journal name: recovery claimed (renamed) it, then failed EISDIR naming the claimed name.
      const entry = join(journalDir(brokenDataDir), `000000000000001-${2 ** 22 + 12345}-abcd1234-000000000.journal`);
      mkdirSync(entry, { recursive: true });
      await assert.rejects(
        startServerProcess({ args: ['--data', brokenDataDir, '--log-level', 'warn'], env }),
        (error: Error) =>
          /exited \(code 1, signal null\) before listening/.test(error.message) &&
          error.message.includes(`rekey: Cannot read the journal file ${entry} (EISDIR: a directory, not a regular file)`) &&
          error.message.includes(`move it out of ${journalDir(brokenDataDir)} to start without it`),
      );
      assert.deepEqual(readdirSync(journalDir(brokenDataDir)), [basename(entry)], 'left under its name');
    } finally {
      rmSync(brokenDataDir, { recursive: true, force: true });
    }
  });
});
