/**
 * Runs a real `rekey-agent run` process for tests (from source via tsx), with a temporary
 * run path, DogStatsD on a free port, and short backoffs through the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCommand, repoRoot } from '../../support/processes.js';
import { fetchAgentStatus } from '../../../src/agent/agent-status-client.js';
import type { AgentStatus } from '../../../src/agent/status-server.js';
import { waitFor } from './recording-intake.js';

export interface AgentProcess {
  child: ChildProcess;
  runPath: string;
  output: () => string;
  status: () => Promise<AgentStatus>;
  dogstatsdPort: number;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface AgentProcessOptions {
  /** The config file; `null` runs with `DD_*` variables only (no --config). */
  config: string | null;
  runPath: string;
  flushInterval?: number;
  env?: NodeJS.ProcessEnv;
  command?: string[];
}

/** Starts the agent and waits until its status endpoint answers. */
export async function startAgent(options: AgentProcessOptions): Promise<AgentProcess> {
  const command = options.command ?? agentCommand;
  const [node, ...args] = command;
  const child = spawn(
    node!,
    [
      ...args,
      'run',
      ...(options.config === null ? [] : ['--config', options.config]),
      '--run-path',
      options.runPath,
      '--flush-interval',
      String(options.flushInterval ?? 1),
      '--dogstatsd-port',
      '0',
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        REKEY_AGENT_BACKOFF_BASE_MS: '200',
        REKEY_AGENT_BACKOFF_MAX_MS: '1000',
        REKEY_AGENT_SHUTDOWN_MS: '3000',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let status: AgentStatus | undefined;
  let ended = false;
  void exited.then(() => (ended = true));
  await waitFor(
    async () => {
      if (ended) throw new Error(`the agent exited during start-up:\n${output}`);
      status = await fetchAgentStatus(options.runPath, 500).then(
        (s) => (s.pid === child.pid ? s : undefined),
        () => undefined,
      );
      // The status endpoint answers before the start has finished (the open buckets of the
      // previous run are taken after it): "started" is logged once it has.
      return status !== undefined && output.includes('rekey-agent started');
    },
    30_000,
    'the agent status endpoint and its "started" line',
  );
  return {
    child,
    runPath: options.runPath,
    output: () => output,
    status: () => fetchAgentStatus(options.runPath),
    dogstatsdPort: status!.components.dogstatsd.port,
    exited,
  };
}

/** Stops the agent with `signal` and waits (bounded) for it to end. */
export async function stopAgent(agent: AgentProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000) {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill(signal);
  const timer = setTimeout(() => agent.child.kill('SIGKILL'), timeoutMs);
  const result = await agent.exited;
  clearTimeout(timer);
  return result;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Writes a datadog.yaml atomically (write + rename), as editors and config tools do. */
export async function writeYamlConfig(file: string, settings: { apiKey: string; url: string; hostname?: string; extra?: string }): Promise<void> {
  const text = [`api_key: ${settings.apiKey}`, `dd_url: ${settings.url}`, `hostname: ${settings.hostname ?? 'agent-test-host'}`, settings.extra ?? ''].join(
    '\n',
  );
  await writeFile(`${file}.tmp`, `${text}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
