/**
 * `rekey server` as a real process: starts on an empty data directory (or PostgreSQL
 * database), prints the credentials once (not on the second start), answers /healthz and
 * the management API with the printed keys, and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../support/processes.js';
import { startServerProcess, type ExitInfo, type ServerProcess } from '../support/server-process.js';
import { DIALECTS, type TestStore } from '../support/dialects.js';

/** Spawns `rekey server --port 0 …` and waits (bounded) for its "listening on" line. */
function startServer(args: string[], env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  return startServerProcess({ args, env, timeoutMs: 30_000 });
}

/** SIGTERM; the exit is asserted by the callers (a hang past 15 s ends in SIGKILL, which fails those assertions). */
function stop(server: ServerProcess): Promise<ExitInfo> {
  return server.stop('SIGTERM', 15_000);
}

for (const dialect of DIALECTS) {
  describe(`rekey server process on ${dialect.name}`, () => {
    let db: TestStore;
    let env: NodeJS.ProcessEnv;
    let args: string[];

    before(async () => {
      db = await dialect.createStore();
      // The server opens the database itself; the test's store only provisioned it (and migrated it, which is idempotent).
      await db.store.close();
      const { REKEY_DATABASE_URL: _ignored, REKEY_DATA: _ignored2, ...rest } = process.env;
      env = { ...rest, ...(db.location.databaseUrl ? { REKEY_DATABASE_URL: db.location.databaseUrl } : {}) };
      args = db.location.dataDir ? ['--data', db.location.dataDir] : [];
      // The deployment secret comes from the data directory (SQLite) or the database (PostgreSQL), not the environment.
      delete env.REKEY_SECRET;
    });
    after(async () => db?.destroy());

    it('initialises an empty store, prints credentials once, serves, and stops cleanly on SIGTERM', async () => {
      const first = await startServer(args, env);
      let credentials: { api: string; app: string; password: string };
      try {
        const out = first.stdout();
        const api = /API key:\s+([0-9a-f]{32})\b/.exec(out)?.[1];
        const app = /application key:\s+([0-9a-f]{40})\b/.exec(out)?.[1];
        const password = /admin password:\s+(\S+)/.exec(out)?.[1];
        assert.ok(api && app && password, `credentials printed:\n${out}`);
        credentials = { api, app, password };

        const health = await fetch(`${first.url}/healthz`);
        assert.equal(health.status, 200);
        assert.deepEqual(await health.json(), { status: 'ok', store: dialect.name });
        const validate = await fetch(`${first.url}/api/v1/validate`, { headers: { 'DD-API-KEY': api } });
        assert.deepEqual(await validate.json(), { valid: true });
        const keys = await fetch(`${first.url}/api/v2/api_keys`, { headers: { 'DD-API-KEY': api, 'DD-APPLICATION-KEY': app } });
        assert.equal(keys.status, 200);
        const body = (await keys.json()) as { data: Array<{ attributes: { last4: string } }> };
        assert.deepEqual(
          body.data.map((k) => k.attributes.last4),
          [api.slice(-4)],
        );
      } finally {
        const exit = await stop(first);
        assert.deepEqual(exit, { code: 0, signal: null }, `clean exit on SIGTERM; stderr: ${first.stderr()}`);
      }
      // Log lines are JSON on stderr and never contain the keys or the password.
      const logLines = first
        .stderr()
        .split('\n')
        .filter((l) => l.trim() !== '');
      assert.ok(logLines.length > 0);
      for (const line of logLines) {
        assert.doesNotThrow(() => JSON.parse(line), `log line is JSON: ${line.slice(0, 200)}`);
        for (const secret of Object.values(credentials)) assert.ok(!line.includes(secret), 'a credential leaked into the log');
      }
      assert.ok(logLines.some((l) => /shutting down/.test(l)));
      // A standalone server (no organisation relayed) does not announce a relay node id at the default level.
      assert.ok(!logLines.some((l) => l.includes('relayNodeId')), 'no relay node id logged by a standalone server');

      const second = await startServer(args, env);
      try {
        assert.doesNotMatch(second.stdout(), /password|API key:|application key:/, 'credentials are printed only on the first start');
        const validate = await fetch(`${second.url}/api/v1/validate`, { headers: { 'DD-API-KEY': credentials.api } });
        assert.equal(validate.status, 200, "the first start's key still works after a restart");
      } finally {
        assert.deepEqual(await stop(second), { code: 0, signal: null });
      }
    });
  });
}

describe('rekey server over TLS', () => {
  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const https = await import('node:https');
    const fixtures = join(repoRoot, 'test/server/fixtures');
    const dataDir = mkdtempSync(join(tmpdir(), 'rekey-tls-'));
    const { REKEY_DATABASE_URL: _ignored, ...rest } = process.env;
    // The data directory from the environment this time (REKEY_DATA), not --data.
    const env = { ...rest, REKEY_DATA: dataDir };
    const server = await startServer(['--tls-cert', join(fixtures, 'localhost-cert.pem'), '--tls-key', join(fixtures, 'localhost-key.pem')], env);
    try {
      assert.match(server.url, /^https:/);
      const ca = readFileSync(join(fixtures, 'localhost-cert.pem'));
      const body = await new Promise<string>((resolve, reject) => {
        const request = https.get(`${server.url}/healthz`, { ca, timeout: 10_000 }, (response) => {
          let text = '';
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve(text));
        });
        request.on('timeout', () => request.destroy(new Error('timeout')));
        request.on('error', reject);
      });
      assert.deepEqual(JSON.parse(body), { status: 'ok', store: 'sqlite' });
      assert.match(server.stdout(), new RegExp(`store: sqlite ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    } finally {
      assert.deepEqual(await stop(server), { code: 0, signal: null });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('rekey server usage errors', () => {
  it('rejects a bad port and a lone --tls-cert with exit code 2 and a message', async () => {
    const { runRekey } = await import('../support/processes.js');
    const badPort = await runRekey(['server', '--port', 'eighty'], { timeoutMs: 30_000 });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /not a port number/);
    const loneCert = await runRekey(['server', '--port', '0', '--tls-cert', '/nonexistent.pem'], { timeoutMs: 30_000 });
    assert.equal(loneCert.code, 2);
    assert.match(loneCert.stderr, /--tls-cert and --tls-key go together/);
    const missing = await runRekey(['server', '--port', '0', '--tls-cert', '/nonexistent-cert.pem', '--tls-key', '/nonexistent-key.pem'], {
      timeoutMs: 30_000,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the TLS file \/nonexistent-cert\.pem: ENOENT/);
  });
});
