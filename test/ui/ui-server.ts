/**
 * A real `rekey server` process (management API, intake and web UI on one port) on a fresh
 * SQLite data directory, on 127.0.0.1 with a free port (`--port 0`). Its first start prints
 * the admin credentials once on stdout; they are read from there, as an operator would.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../support/server-process.js';

export interface RunningServer {
  url: string;
  admin: { email: string; password: string };
  /** The first API key's id (its key is not needed by the UI tests). */
  firstApiKeyId: string;
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, wait (bounded) for the exit, delete the data directory. */
  close(): Promise<void>;
}

export async function startRekeyServer(): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rekey-ui-'));
  const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, REKEY_SECRET: _secret, ...env } = process.env;
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  let server;
  try {
    server = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env, timeoutMs: 60_000 });
  } catch (error) {
    cleanup();
    throw error;
  }
  const { email, password, apiKey } = server.credentials ?? {};
  const firstApiKeyId = apiKey?.id;
  if (!email || !password || !firstApiKeyId || !/^[0-9a-f-]{36}$/.test(firstApiKeyId)) {
    await server.stop('SIGKILL');
    cleanup();
    throw new Error('rekey server did not print the first-start credentials');
  }
  const running = server;
  return {
    url: running.url,
    admin: { email, password },
    firstApiKeyId,
    child: running.child,
    stderr: running.stderr,
    close: async () => {
      await running.stop('SIGTERM', 15_000);
      cleanup();
    },
  };
}
