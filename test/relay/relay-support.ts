/**
 * What the relay tests share: a rekey server process in relay mode (its own temp data dir,
 * short timing knobs), `rekey upstream set` through the real CLI with the key on stdin, and a
 * recording upstream — a real node:http server that keeps every request's method, path,
 * headers and raw body, and answers what the test tells it to.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cleanEnv, tempDirs } from '../support/cli.js';
import { runRekey } from '../support/processes.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

export const relayDirs = tempDirs('rekey-relay-');

export interface RekeyNode {
  server: ServerProcess;
  dataDir: string;
  orgId: string;
  orgName: string;
  apiKey: string;
  appKey: string;
  env: NodeJS.ProcessEnv;
}

/** Relay-friendly timings: settings re-read every 100 ms, backoff capped at 300 ms, a refused key re-tried every 500 ms. */
export function relayEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return cleanEnv({ REKEY_RELAY_POLL_MS: '100', REKEY_RELAY_RETRY_MAX_MS: '300', REKEY_RELAY_KEY_RECHECK_MS: '500', ...extra });
}

/** A first start of `rekey server --data DIR`; its credentials and organisation read from its stdout. */
export async function startNode(dataDir = join(relayDirs(), 'data'), env = relayEnv()): Promise<RekeyNode> {
  const server = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env });
  const org = /organization:\s+(.+) \(([^)]+)\)/.exec(server.stdout());
  const credentials = server.credentials;
  if (!org || !credentials?.apiKey || !credentials.appKey) throw new Error('the first start printed no credentials');
  return { server, dataDir, orgName: org[1]!, orgId: org[2]!, apiKey: credentials.apiKey.key, appKey: credentials.appKey, env };
}

/** Restarts a node on its data dir (after a stop or a SIGKILL). */
export async function restartNode(node: RekeyNode): Promise<RekeyNode> {
  const server = await startServerProcess({ args: ['--data', node.dataDir, '--log-level', 'warn'], env: node.env });
  return { ...node, server };
}

/** `rekey upstream set` with the key on stdin; throws with stderr when it fails. */
export async function setUpstream(node: RekeyNode, site: string, upstreamKey: string, extra: string[] = []): Promise<string> {
  const result = await runRekey(['upstream', 'set', '--data', node.dataDir, '--org', node.orgName, '--site', site, '--key-stdin', ...extra], {
    input: `${upstreamKey}\n`,
    env: node.env,
  });
  if (result.code !== 0) throw new Error(`rekey upstream set failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** What the recorder answered. */
  status: number;
}

export interface Recorder {
  url: string;
  port: number;
  requests: Recorded[];
  /** Decides each answer: status (and Retry-After; the answer is held back until `until` settles). Default 202. */
  answer: (request: Omit<Recorded, 'status'>) => { status: number; retryAfter?: string; until?: Promise<unknown> };
  close(): Promise<void>;
  /** Listens again on the same port (after `close`). */
  reopen(): Promise<void>;
}

export async function startRecorder(port = 0): Promise<Recorder> {
  let server: Server;
  const recorder: Recorder = {
    url: '',
    port: 0,
    requests: [],
    answer: () => ({ status: 202 }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reopen: () => listen(recorder.port),
  };
  const listen = (onPort: number) =>
    new Promise<void>((resolve, reject) => {
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          const seen = {
            method: request.method ?? '',
            url: request.url ?? '',
            headers: request.headers,
            rawHeaders: request.rawHeaders,
            body: Buffer.concat(chunks),
          };
          const { status, retryAfter, until } = recorder.answer(seen);
          const respond = () => {
            recorder.requests.push({ ...seen, status });
            response.writeHead(status, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
            response.end(status < 300 ? '{"status":"ok"}' : '{"errors":["refused by the test upstream"]}');
          };
          if (until === undefined) respond();
          else void until.then(respond, respond);
        });
      });
      server.once('error', reject);
      server.listen(onPort, '127.0.0.1', () => {
        recorder.port = (server.address() as AddressInfo).port;
        recorder.url = `http://127.0.0.1:${recorder.port}`;
        resolve();
      });
    });
  await listen(port);
  return recorder;
}

/**
 * A node in relay mode whose upstream is a fresh recording upstream (keyed `upstreamKey`),
 * returned once relay mode is in effect (a logs payload answered 202); `stop` ends both.
 */
export async function relayToRecorder(upstreamKey: string): Promise<{ relay: RekeyNode; recorder: Recorder; stop: () => Promise<void> }> {
  const recorder = await startRecorder();
  const relay = await startNode();
  await setUpstream(relay, recorder.url, upstreamKey);
  await eventually(async () => (await post(`${relay.server.url}/api/v2/logs`, relay.apiKey, '[]')) === 202, 'relay mode in effect');
  return {
    relay,
    recorder,
    stop: async () => {
      await relay.server.stop();
      await recorder.close();
    },
  };
}

/** Polls `check` every 50 ms until it is true; throws `what` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** POSTs `body` to the node with the agent's key; returns the status. */
export async function post(url: string, apiKey: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(url, { method: 'POST', headers: { 'dd-api-key': apiKey, 'content-type': 'application/json', ...headers }, body });
  await response.arrayBuffer();
  return response.status;
}
