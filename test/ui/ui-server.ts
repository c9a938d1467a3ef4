/**
 * A real `rekey server` process (management API, intake and web UI on one port) on a fresh
 * SQLite data directory, on 127.0.0.1 with a free port (`--port 0`). Its first start prints
 * the admin credentials once on stdout; they are read from there, as an operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rekeyCommand, repoRoot } from '../support/processes.js';

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
  const [command, ...prefix] = rekeyCommand;
  const child = spawn(command!, [...prefix, 'server', '--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--log-level', 'warn'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rekey server did not start within 60 s\nstderr: ${stderr}`)), 60_000);
      const check = () => {
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`rekey server exited before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
      });
    });
    const email = /admin email:\s+(\S+)/.exec(stdout)?.[1];
    const password = /admin password:\s+(\S+)/.exec(stdout)?.[1];
    const firstApiKeyId = /API key:\s+[0-9a-f]{32}\s+\(id ([0-9a-f-]{36})\)/.exec(stdout)?.[1];
    if (!email || !password || !firstApiKeyId) throw new Error('rekey server did not print the first-start credentials');
    return {
      url,
      admin: { email, password },
      firstApiKeyId,
      child,
      stderr: () => stderr,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timeout = new Promise<void>((resolve) =>
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 15_000).unref(),
        );
        await Promise.race([exited, timeout]);
        cleanup();
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    cleanup();
    throw error;
  }
}
