/**
 * Issue 15, row 6: `--trust-proxy` believes only the proxies it is told about — a hop count
 * or their addresses/CIDRs — so a client that rotates the leftmost `X-Forwarded-For` entry
 * (which it controls) still meets the per-address failed-authentication throttle, while
 * distinct clients behind the proxy are still told apart. "Trust everything" is refused.
 * Real `rekey server` processes; the test's connections come from 127.0.0.1, the "proxy".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runRekey } from '../support/processes.js';
import { startServerProcess } from '../support/server-process.js';

const MAX_FAILURES = 20; // auth-throttle.ts default

/** A failing management request (no keys) with this X-Forwarded-For; its status. */
async function failWith(url: string, forwardedFor: string | undefined): Promise<number> {
  const response = await fetch(`${url}/api/v2/api_keys`, { headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });
  await response.arrayBuffer();
  return response.status;
}

describe('rekey server --trust-proxy', () => {
  const root = mkdtempSync(join(tmpdir(), 'rekey-trust-proxy-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;

  for (const trust of ['1', '127.0.0.1', 'loopback,10.0.0.0/8']) {
    it(`--trust-proxy ${trust}: a client rotating the leftmost X-Forwarded-For is still throttled; another client is not`, { timeout: 60_000 }, async () => {
      const server = await startServerProcess({ args: ['--data', join(root, trust.replace(/\W/g, '_')), '--log-level', 'warn', '--trust-proxy', trust], env });
      try {
        const statuses: number[] = [];
        // The proxy appends the address it saw (198.51.100.7); the client forges what is before it.
        for (let i = 0; i < MAX_FAILURES + 3; i++) statuses.push(await failWith(server.url, `10.${i}.0.1, 203.0.113.${i}, 198.51.100.7`));
        assert.ok(
          statuses.slice(0, MAX_FAILURES).every((s) => s === 401 || s === 403),
          `first ${MAX_FAILURES} refused normally: ${statuses}`,
        );
        assert.deepEqual(statuses.slice(MAX_FAILURES), [429, 429, 429], 'then throttled, whatever the forged entries say');
        assert.notEqual(await failWith(server.url, '198.51.100.8'), 429, 'a different client behind the same proxy is told apart');
      } finally {
        await server.stop('SIGTERM');
      }
    });
  }

  it('without --trust-proxy, and with a list that does not include the peer, X-Forwarded-For is ignored', { timeout: 60_000 }, async () => {
    const started = await Promise.allSettled([
      startServerProcess({ args: ['--data', join(root, 'none'), '--log-level', 'warn'], env }),
      startServerProcess({ args: ['--data', join(root, 'other'), '--log-level', 'warn', '--trust-proxy', '10.0.0.0/8'], env }),
    ]);
    const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    try {
      for (const result of started) if (result.status === 'rejected') throw result.reason;
      for (const server of servers) {
        const statuses: number[] = [];
        for (let i = 0; i < MAX_FAILURES + 1; i++) statuses.push(await failWith(server.url, `198.51.100.${i}`));
        assert.equal(statuses.at(-1), 429, `every request counted for the peer 127.0.0.1: ${statuses}`);
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop('SIGTERM')));
    }
  });

  it('refuses "trust everything" and malformed values with a usage error (exit 2)', { timeout: 60_000 }, async () => {
    for (const value of ['true', '0.0.0.0/0', 'proxy.example']) {
      const result = await runRekey(['server', '--data', join(root, 'refused'), '--port', '0', '--trust-proxy', value], { env, timeoutMs: 30_000 });
      assert.equal(result.code, 2, `${value}: ${result.stderr}`);
      assert.match(result.stderr, /--trust-proxy/);
    }
  });
});
