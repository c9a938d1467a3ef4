/**
 * What the agent tests against the real `rekey server` start from (real-server, long-tag,
 * lost-response): a temp directory with a server on SQLite in it, both gone after the test;
 * an agent configured for it, SIGKILLed after the test if still running; a UDP socket to send
 * DogStatsD lines with.
 */
import dgram from 'node:dgram';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type ServerProcess } from '../../rotate/support/fleet.js';
import { removeDir, startAgent, stopAgent, tempDir, writeYamlConfig, type AgentProcess } from './agent-process.js';

/** A real server in a fresh temp dir; `from` (now − 60 s, in seconds) is a query start before any point. */
export async function realServerTestbed(t: TestContext, prefix: string): Promise<{ dir: string; server: ServerProcess; from: number }> {
  const dir = await tempDir(prefix);
  const server = await startServer(join(dir, 'data'));
  t.after(async () => {
    await server.stop();
    await removeDir(dir);
  });
  return { dir, server, from: Math.floor(Date.now() / 1000) - 60 };
}

/** Writes `dir`/datadog.yaml and starts an agent on it (run path `dir`/run, flush every second). */
export async function startAgentIn(
  t: TestContext,
  dir: string,
  settings: { apiKey: string; url: string; hostname: string; env?: NodeJS.ProcessEnv },
): Promise<{ agent: AgentProcess; config: string }> {
  const config = join(dir, 'datadog.yaml');
  await writeYamlConfig(config, { apiKey: settings.apiKey, url: settings.url, hostname: settings.hostname });
  const agent = await startAgent({ config, runPath: join(dir, 'run'), flushInterval: 1, ...(settings.env ? { env: settings.env } : {}) });
  t.after(() => stopAgent(agent, 'SIGKILL'));
  return { agent, config };
}

/** A UDP socket (closed after the test); `send` resolves once the datagram is handed to the kernel. */
export function dogstatsdSender(t: TestContext, port: number): (text: string) => Promise<void> {
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  return (text) => new Promise<void>((resolve) => socket.send(text, port, '127.0.0.1', () => resolve()));
}
