/**
 * Spawning rekey's real programs from tests. Keys and passwords go to children through stdin or
 * env, never argv.
 *
 * The programs run from the built `dist/` when it is newer than every file in `src/` (`npm
 * install` builds it; so does `npm run build`), else from the TypeScript sources through tsx —
 * so a test never runs yesterday's build. Why the built ones first: a program started through
 * tsx costs ~0.4 s more CPU (0.5 s against 0.1 s for `rekey --version` on this 2-core machine,
 * 2026-11-30), and the suite starts hundreds of servers, agents and CLIs. REKEY_TEST_FROM_SOURCE=1
 * always runs the sources.
 */
import { readdirSync, statSync } from 'node:fs';
import { spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The newest modification time (ms) of any file below `dir`. */
export function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ holds a build of the current src/ (both programs built after the newest source file). */
function builtIsCurrent(): boolean {
  if (process.env.REKEY_TEST_FROM_SOURCE === '1') return false;
  try {
    const built = Math.min(statSync(join(repoRoot, 'dist/cli/main.js')).mtimeMs, statSync(join(repoRoot, 'dist/agent/main.js')).mtimeMs);
    return built >= newestMtimeMs(join(repoRoot, 'src'));
  } catch {
    return false; // not built
  }
}

const fromBuild = builtIsCurrent();

/** argv prefix that runs `rekey`: `[node, dist/cli/main.js]`, or from source `[node, --import, tsx, src/cli/main.ts]`. */
export const rekeyCommand = fromBuild ? [process.execPath, `${repoRoot}dist/cli/main.js`] : [process.execPath, '--import', 'tsx', `${repoRoot}src/cli/main.ts`];
/** argv prefix that runs `rekey-agent`, built or from source as `rekeyCommand`. */
export const agentCommand = fromBuild
  ? [process.execPath, `${repoRoot}dist/agent/main.js`]
  : [process.execPath, '--import', 'tsx', `${repoRoot}src/agent/main.ts`];

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, feeding `input` on stdin. */
export function run(argv: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('empty argv');
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    };
    const child = spawn(command, args, spawnOptions);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A child that exits without reading its stdin (e.g. `sh script stop`) makes the write
    // fail with EPIPE; that is not the child's result, so it must not become an uncaught error.
    child.stdin!.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin!.end(options.input ?? '');
  });
}

/** Runs `rekey ARGS…` from source. */
export function runRekey(args: string[], options: Parameters<typeof run>[1] = {}): Promise<RunResult> {
  return run([...rekeyCommand, ...args], options);
}
