/**
 * A real `rekey server` process on 127.0.0.1 with a free port (`--port 0`), for the tests that
 * need the whole program: spawned from source, its output collected, started only once its
 * "listening on" line appears (bounded), and stopped with a signal (bounded, then SIGKILL).
 * The first-start credentials are read from stdout, as an operator would read them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rekeyCommand, repoRoot } from './processes.js';

export interface ServerProcessOptions {
  /**
   * Arguments after `server --host 127.0.0.1 --port 0` (e.g. `--data DIR`, `--log-level warn`).
   * Without `--data` (and without REKEY_DATA in `env`) the process gets a data directory of its
   * own, removed once it exits: never the checkout's ./data, where nodes of one test would share
   * a journal (and a later test would find their leftovers).
   */
  args?: string[];
  /** The child's whole environment; defaults to this process's. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the "listening on" line; defaults to 60 s. */
  timeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a first start prints once; absent on later starts, or for a field that was not printed. */
export interface FirstStartCredentials {
  email?: string;
  password?: string;
  apiKey?: { key: string; id: string };
  appKey?: string;
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Credentials parsed from the first start's stdout, or undefined when none were printed. */
  credentials: FirstStartCredentials | undefined;
  stdout(): string;
  stderr(): string;
  exited: Promise<ExitInfo>;
  /** Sends `signal` (unless already exited) and waits for the exit; SIGKILL after `graceMs` (default 15 s). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>;
}

/** Keys are never written to an error message: 32–40 hex runs are masked in the startup diagnostics. */
function redact(text: string): string {
  return text.replace(/[0-9a-f]{32,40}/g, '<key>');
}

function parseCredentials(stdout: string): FirstStartCredentials | undefined {
  const email = /admin email:\s+(\S+)/.exec(stdout)?.[1];
  const password = /admin password:\s+(\S+)/.exec(stdout)?.[1];
  const api = /API key:\s+([0-9a-f]{32})\b(?:\s+\(id ([^)\s]+)\))?/.exec(stdout);
  const appKey = /application key:\s+([0-9a-f]{40})\b/.exec(stdout)?.[1];
  if (!email && !password && !api && !appKey) return undefined;
  return {
    ...(email ? { email } : {}),
    ...(password ? { password } : {}),
    ...(api ? { apiKey: { key: api[1]!, id: api[2] ?? '' } } : {}),
    ...(appKey ? { appKey } : {}),
  };
}

/** Spawns `rekey server --host 127.0.0.1 --port 0 ARGS…` and resolves once it is listening. */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const [command, ...prefix] = rekeyCommand;
  const env = options.env ?? process.env;
  const args = options.args ?? [];
  const ownDataDir = args.includes('--data') || (env.REKEY_DATA ?? '') !== '' ? undefined : mkdtempSync(join(tmpdir(), 'rekey-server-data-'));
  const child = spawn(
    command!,
    [...prefix, 'server', '--host', '127.0.0.1', '--port', '0', ...args, ...(ownDataDir === undefined ? [] : ['--data', ownDataDir])],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<ExitInfo>((resolve) =>
    child.on('exit', (code, signal) => {
      if (ownDataDir !== undefined) rmSync(ownDataDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<ExitInfo> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(kill);
    }
  };

  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rekey server did not start within ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        const match = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on('data', check);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`rekey server exited (code ${code}, signal ${signal}) before listening`));
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    // Bounded: a child that failed to spawn never emits 'exit'.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    throw new Error(`${(error as Error).message}\nstdout: ${redact(stdout)}\nstderr: ${redact(stderr.slice(-20_000))}`, { cause: error });
  }

  return {
    child,
    url,
    port: Number(new URL(url).port),
    credentials: parseCredentials(stdout),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    stop,
  };
}
