/**
 * Starts the server users run — the built `rekey server` (dist/cli/main.js), as the README
 * starts it (`npm start`: default flags, log level info, durability process, default rate
 * limits) — in its own process, on a fresh SQLite data directory, and returns its URL and the
 * first API key it printed. Shared by the benchmarks that measure the shipped server, so each
 * measures the same program started the same way.
 *
 * dist/ is rebuilt first when any file under src/ is newer than dist/cli/main.js: a stale build
 * would measure yesterday's server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/free-port.js';
import { newestMtimeMs } from '../../test/support/processes.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const builtServer = join(repoRoot, 'dist', 'cli', 'main.js');

export interface ShippedServer {
  url: string;
  /** The first API key the server printed (a key is shown once: it stays in this process); '' on a reused data directory or a joining node. */
  apiKey: string;
  /** The first application key it printed, for the management API (`/api/v1/query`); '' on a reused data directory. */
  appKey: string;
  /** Its data directory (SQLite: `rekey.db` in it). */
  dataDir: string;
  pid: number;
  /** Lines the server has logged so far (its stderr goes to a file, as under a service manager). */
  logLines(): number;
  /** SIGTERM, then waits for the exit (the server saves its journal first); removes the data directory unless `keepData`. */
  stop(): Promise<void>;
}

export interface ShippedServerOptions {
  /** Extra `node` flags before the script (`--cpu-prof`, …); the server itself keeps default flags. */
  nodeArgs?: string[];
  /** Extra environment (e.g. REKEY_DATABASE_URL for PostgreSQL); REKEY_DATABASE_URL is unset otherwise. */
  env?: NodeJS.ProcessEnv;
  /** The built server to run, absolute or relative to the repository (default dist/cli/main.js): an A/B run's other build copied aside. */
  script?: string;
  /** Start on this existing data directory (a server stopped with `keepData`): nothing is printed, so no keys are read. */
  dataDir?: string;
  /** Leave the data directory in place on stop (the caller removes it). */
  keepData?: boolean;
  /**
   * False for a further node of a PostgreSQL deployment another node already initialised: it
   * prints no credentials, so the start is over when it answers /livez. Default true.
   */
  firstStart?: boolean;
}

/** Runs `npm run build` when dist/ is missing or older than src/. */
export function ensureBuilt(): void {
  if (existsSync(builtServer) && statSync(builtServer).mtimeMs >= newestMtimeMs(join(repoRoot, 'src'))) return;
  process.stderr.write('bench: dist/ is missing or older than src/; running npm run build\n');
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Starts dist/cli/main.js server with default flags; resolves once it printed the first API key and answers /livez. */
export async function startShippedServer(options: ShippedServerOptions = {}): Promise<ShippedServer> {
  ensureBuilt();
  const data = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rekey-bench-shipped-'));
  const port = await freePort();
  const { REKEY_DATABASE_URL: _url, ...env } = process.env;
  // Its log (pino JSON on stderr) goes to a file, as it would under a service manager: writing
  // each line is what users pay; reading them here would cost this process, not the server.
  const logFile = join(data, 'server.log');
  const logFd = openSync(logFile, 'a');
  const script = options.script === undefined ? builtServer : resolve(repoRoot, options.script);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, 'server'], {
    cwd: repoRoot,
    env: { ...env, REKEY_DATA: data, REKEY_PORT: String(port), REKEY_HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', 'pipe', logFd],
  });
  closeSync(logFd);
  const countLines = () => {
    const text = readFileSync(logFile, 'utf8');
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    return lines;
  };
  let out = '';
  const keys = await new Promise<{ apiKey: string; appKey: string }>((resolve, reject) => {
    // A reused data directory, or a node joining an initialised database, prints no keys: /livez below says when it is up.
    if (options.dataDir !== undefined || options.firstStart === false) return resolve({ apiKey: '', appKey: '' });
    const timer = setTimeout(() => reject(new Error('rekey server did not print its first API key within 60 s')), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const apiKey = /API key:\s+([0-9a-f]{32})\s/.exec(out);
      const appKey = /application key:\s+([0-9a-f]{40})\s/.exec(out);
      if (apiKey && appKey) {
        clearTimeout(timer);
        resolve({ apiKey: apiKey[1]!, appKey: appKey[1]! });
      }
    });
    child.once('exit', (code) => reject(new Error(`rekey server exited with ${code}: ${readFileSync(logFile, 'utf8').slice(-2000)}`)));
  });
  // Whatever it prints on stdout after start-up is drained unread.
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${url}/livez`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    ...keys,
    dataDir: data,
    pid: child.pid!,
    logLines: countLines,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => {
          if (!options.keepData) rmSync(data, { recursive: true, force: true });
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}
