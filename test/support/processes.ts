/**
 * Spawning rekey's real programs from tests. Keys and passwords go to children through stdin or
 * env, never argv. Which build of the programs runs (dist/ when current, else the sources through
 * tsx) is decided in scripts/program-commands.ts, shared with the demo.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { agentCommand, newestMtimeMs, rekeyCommand, repoRoot } from '../../scripts/program-commands.js';

export { agentCommand, newestMtimeMs, rekeyCommand, repoRoot };

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
