/**
 * `npm run demo`: rekey's whole story on this machine in under a minute.
 *
 * Starts a `rekey server` (temporary SQLite data directory, a free port), three
 * `rekey-agent run` processes (temporary datadog.yaml files, 1 s flush) and a DogStatsD
 * client (hot-shots) that counts `demo.requests` on every agent throughout. Once every agent
 * reports with the first API key, it runs the real `rekey rotate` CLI over an inventory of
 * the three hosts, prints the rotation report, stops the agents (which flush and deliver
 * everything they hold), reads the totals back through `GET /api/v1/query` and prints sent
 * vs stored — the line `0 lost` is the point of the product — then the URL of the new
 * key's page in the web UI, whose chart shows the old key's hosts moving to the new key.
 *
 * On a terminal it then keeps the server running for you to look at, until Ctrl-C; without
 * a terminal (CI, tests) or with --no-wait it exits. Ctrl-C at any moment stops every child
 * and removes the temporary folder (kept with --keep). Exit code 0 only if the rotation
 * succeeded and no count was lost.
 *
 * `--relay` runs the relay-mode variant instead (relayMain below): a second rekey server plays
 * Datadog, the first forwards to it, and `rekey upstream rotate` replaces the Datadog key while
 * the agents keep sending — no agent touched.
 *
 * Usage: npm run demo [-- --relay] [-- --keep] [-- --wait | --no-wait]
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import StatsD from 'hot-shots';
import { fetchAgentStatus } from '../src/agent/agent-status-client.js';
import { DatadogClient } from '../src/rotate/datadog-client.js';
import { formatReport } from '../src/rotate/report.js';
import type { RotationReport } from '../src/rotate/rotation.js';

import { agentCommand as rekeyAgent, rekeyCommand as rekey, repoRoot } from './program-commands.js';

const HOSTS = ['demo-web-1', 'demo-web-2', 'demo-db-1'];
const METRIC = 'demo.requests';

const { values: flags } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    wait: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    relay: { type: 'boolean', default: false },
  },
});
const waitAtEnd = flags['no-wait'] ? false : (flags.wait ?? process.stdout.isTTY === true);
const startedAt = Date.now();
const say = (line = '') => process.stdout.write(`${line}\n`);
const step = (line: string) => say(`\n[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)} s] ${line}`);

// ---- clean-up: every child, every socket, the temporary folder ---------------------------
const root = mkdtempSync(join(tmpdir(), 'rekey-demo-'));
const children = new Set<ChildProcess>();
const statsdClients: Array<InstanceType<typeof StatsD>> = [];
let cleaned = false;
let interrupted = false;

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Stops `child` with `signal`, SIGKILL after `ms`; resolves when it has exited. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<void> {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const client of statsdClients) client.close();
  await Promise.all([...children].map((child) => stopChild(child, 'SIGTERM', 5_000)));
  removeRoot();
}

function removeRoot(): void {
  if (flags.keep) say(`Kept ${root} (--keep): server data, agent configs and queues, inventory, journal.`);
  else rmSync(root, { recursive: true, force: true });
}

// Last resort on any exit (an exception included): no child outlives the demo, and the folder
// goes even when cleanUp already removed it once — after a Ctrl-C the demo's own steps keep
// running until process.exit and may write an agent's config into the folder after that first
// removal (CI, 2026-12-01: the folder outlived a SIGINT). This is the last JavaScript to run.
process.on('exit', () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  if (!flags.keep) rmSync(root, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the server and the agents, removing ${root}${flags.keep ? ' (no: --keep)' : ''}\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

// ---- processes -------------------------------------------------------------------------
/**
 * Every child of the demo starts here, so clean-up knows it. Once clean-up has begun (Ctrl-C)
 * nothing new starts: the step that asked fails, and the demo is already on its way out.
 */
function spawnChild(argv: readonly string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  if (cleaned) throw new Error('the demo is stopping: no new process is started');
  const [command, ...args] = argv;
  const child = spawn(command!, args, { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  return child;
}
interface Started {
  child: ChildProcess;
  output: () => string;
}

function start(argv: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawnChild(argv, { ...process.env, ...env });
  child.stdin.end();
  child.on('exit', () => children.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

/** Sends METRIC += 1 to every agent every 50 ms until the returned function is called. */
function startPump(agents: ReadonlyArray<{ statsd: { increment(metric: string, value: number): void }; sent: number }>): () => void {
  const pump = setInterval(() => {
    for (const agent of agents) {
      agent.statsd.increment(METRIC, 1);
      agent.sent++;
    }
  }, 50);
  return () => clearInterval(pump);
}

/** Waits (bounded) until `check` returns a value; fails with `what` and the process output. */
async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, started?: Started): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started && !alive(started.child))
      throw new Error(`${what}: the process exited (${started.child.exitCode ?? started.child.signalCode})\n${started.output()}`);
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${started ? `\n${started.output()}` : ''}`);
}

interface Server {
  url: string;
  dataDir: string;
  /** The organisation created at first start (its name). */
  org: string;
  apiKey: { id: string; key: string };
  appKey: string;
  admin: { email: string; password: string };
}

async function startServer(dataDirName = 'server-data', env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const server = start([...rekey, 'server', '--data', join(root, dataDirName), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], {
    REKEY_DATABASE_URL: '',
    REKEY_SECRET: '',
    ...env,
  });
  const url = await until(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1], 45_000, 'the server to listen', server);
  const out = server.output();
  const api = /API key:\s+([0-9a-f]{32})\s+\(id ([^)\s]+)\)/.exec(out);
  const app = /application key:\s+([0-9a-f]{40})/.exec(out);
  const email = /admin email:\s+(\S+)/.exec(out);
  const password = /admin password:\s+(\S+)/.exec(out);
  const org = /organization:\s+(.+) \(([^)]+)\)/.exec(out);
  if (!api || !app || !email || !password || !org) throw new Error('the server did not print its first-start credentials');
  return {
    url,
    dataDir: join(root, dataDirName),
    org: org[1]!,
    apiKey: { id: api[2]!, key: api[1]! },
    appKey: app[1]!,
    admin: { email: email[1]!, password: password[1]! },
  };
}

interface DemoAgent {
  host: string;
  config: string;
  pidFile: string;
  process: Started;
  statsd: InstanceType<typeof StatsD>;
  sent: number;
}

async function startAgent(host: string, server: Server): Promise<DemoAgent> {
  const home = join(root, host);
  const runPath = join(home, 'run');
  mkdirSync(runPath, { recursive: true });
  const config = join(home, 'datadog.yaml');
  writeFileSync(config, `api_key: ${server.apiKey.key}\ndd_url: ${server.url}\nhostname: ${host}\ntags:\n  - demo:rekey\n`, { mode: 0o600 });
  const agent = start([...rekeyAgent, 'run', '--config', config, '--run-path', runPath, '--flush-interval', '1', '--dogstatsd-port', '0'], {
    // Retry a refused payload within a second instead of the production back-off (minutes),
    // so the demo shows the same behaviour in its time budget.
    REKEY_AGENT_BACKOFF_BASE_MS: '200',
    REKEY_AGENT_BACKOFF_MAX_MS: '1000',
    REKEY_AGENT_SHUTDOWN_MS: '5000',
  });
  const status = await until(
    () =>
      fetchAgentStatus(runPath, 500).then(
        (s) => (s.pid === agent.child.pid ? s : undefined),
        () => undefined,
      ),
    45_000,
    `the agent ${host} to start`,
    agent,
  );
  const statsd = new StatsD({ host: '127.0.0.1', port: status.components.dogstatsd.port, protocol: 'udp', maxBufferSize: 0, errorHandler: () => {} });
  statsdClients.push(statsd);
  return { host, config, pidFile: join(runPath, 'rekey-agent.pid'), process: agent, statsd, sent: 0 };
}

async function api(server: Server, path: string, apiKey: string): Promise<any> {
  const response = await fetch(`${server.url}${path}`, {
    headers: { 'DD-API-KEY': apiKey, 'DD-APPLICATION-KEY': server.appKey },
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** Sum of every stored `demo.requests` count per host, read back through GET /api/v1/query. */
async function storedTotals(server: Server, apiKey: string, fromSeconds: number): Promise<Map<string, number>> {
  const to = Math.floor(Date.now() / 1000) + 60;
  // Counters arrive as rates (per second over 10 s), as from the Datadog Agent: .as_count() reads the counts.
  const query = encodeURIComponent(`sum:${METRIC}{*} by {host}.as_count()`);
  const body = await api(server, `/api/v1/query?from=${fromSeconds}&to=${to}&query=${query}`, apiKey);
  const totals = new Map<string, number>();
  for (const series of body.series as Array<{ scope: string; tag_set?: string[]; pointlist: Array<[number, number | null]> }>) {
    const host = (series.tag_set ?? []).find((tag) => tag.startsWith('host:'))?.slice(5) ?? series.scope.replace(/^host:/, '');
    totals.set(host, (totals.get(host) ?? 0) + series.pointlist.reduce((sum, [, value]) => sum + (value ?? 0), 0));
  }
  // Rate × interval is a float (9.3 × 10); the counts are whole numbers.
  for (const [host, total] of totals) totals.set(host, Math.round(total * 1e6) / 1e6);
  return totals;
}

function runRotate(inventory: string, server: Server): Promise<{ code: number | null; stdout: string }> {
  const child = spawnChild(
    [...rekey, 'rotate', '--inventory', inventory, '--grace', '10m', '--concurrency', '3', '--verify-timeout', '30s', '--json'],
    // Credentials travel in the environment, as Datadog's tools read them; never in argv.
    { ...process.env, DD_API_KEY: server.apiKey.key, DD_APP_KEY: server.appKey, DD_SITE: server.url },
  );
  child.stdin.end();
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  // rotate's progress lines (stderr) go straight to the user, indented.
  child.stderr.on('data', (chunk: Buffer) => process.stdout.write(chunk.toString('utf8').replace(/^(?=.)/gm, '    ')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout });
    }),
  );
}

/**
 * Runs a `rekey` CLI command to its end; `input` goes to its stdin (keys travel there or in
 * `env`, never in argv). With `echo`, its output is shown to the user, indented.
 */
function runCli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; echo?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild([...rekey, ...args], { ...process.env, REKEY_DATABASE_URL: '', REKEY_SECRET: '', ...options.env });
  let stdout = '';
  let stderr = '';
  const show = (chunk: Buffer) => {
    if (options.echo) process.stdout.write(chunk.toString('utf8').replace(/^(?=.)/gm, '    '));
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    show(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    show(chunk);
  });
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
}

// ---- the demo --------------------------------------------------------------------------
async function main(): Promise<number> {
  say('rekey demo: one server, three agents, a DogStatsD client, one key rotation, zero lost points.');
  say(`Temporary folder: ${root}`);

  step('Starting rekey server (embedded SQLite, a free port)…');
  const server = await startServer();
  say(`  ${server.url} — first API key …${server.apiKey.key.slice(-4)} (id ${server.apiKey.id})`);

  step(`Starting ${HOSTS.length} rekey-agents (datadog.yaml with the first key, 1 s flush)…`);
  const fromSeconds = Math.floor(Date.now() / 1000) - 20;
  const agents = await Promise.all(HOSTS.map((host) => startAgent(host, server)));
  for (const agent of agents) say(`  ${agent.host}: ${agent.config}`);

  step(`Sending ${METRIC} counts over DogStatsD to every agent, every 50 ms, throughout…`);
  const stopPump = startPump(agents);

  await until(
    async () => {
      const hosts = await api(server, `/api/v2/api_keys/${server.apiKey.id}/hosts`, server.apiKey.key);
      return (hosts.data as unknown[]).length >= HOSTS.length ? true : undefined;
    },
    30_000,
    'every agent to report with the first key',
  );
  say(`  the server has seen all ${HOSTS.length} hosts with key …${server.apiKey.key.slice(-4)}`);

  const inventory = join(root, 'inventory.yaml');
  writeFileSync(
    inventory,
    `# rekey rotate inventory: each host's agent config and how to make it reload.\nhosts:\n${agents
      .map((a) => `  - name: ${a.host}\n    transport: local\n    config: ${a.config}\n    restart: sighup:${a.pidFile}\n`)
      .join('')}`,
  );
  step(`rekey rotate --inventory ${inventory} --grace 10m   (DD_API_KEY, DD_APP_KEY, DD_SITE=${server.url})`);
  const rotation = await runRotate(inventory, server);
  let report: RotationReport;
  try {
    report = JSON.parse(rotation.stdout) as RotationReport;
  } catch {
    throw new Error(`rekey rotate exited ${rotation.code} without a JSON report:\n${rotation.stdout}`);
  }
  say('');
  say(
    formatReport(report)
      .replace(/^(?=.)/gm, '  ')
      .trimEnd(),
  );
  const newKey = report.new_key;
  if (rotation.code !== 0 || newKey === undefined || newKey === null) {
    say(`\nrekey rotate exited ${rotation.code}: the rotation did not complete.`);
    return 1;
  }
  const keyFromConfig = /^api_key: ([0-9a-f]{32})$/m.exec(readFileSync(agents[0]!.config, 'utf8'))?.[1];
  if (keyFromConfig === undefined || keyFromConfig.slice(-4) !== newKey.last4) throw new Error("the agents' config does not hold the new key");

  // A little more traffic on the new key, then stop: agents flush their open buckets on SIGTERM.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  stopPump();
  await new Promise((resolve) => setTimeout(resolve, 200));
  step('Stopping the agents (SIGTERM: they flush their open buckets and deliver their queues)…');
  await Promise.all(agents.map((agent) => stopChild(agent.process.child, 'SIGTERM', 15_000)));

  const sent = agents.reduce((sum, agent) => sum + agent.sent, 0);
  let totals = new Map<string, number>();
  const stored = () => agents.reduce((sum, agent) => sum + (totals.get(agent.host) ?? 0), 0);
  await until(
    async () => {
      totals = await storedTotals(server, keyFromConfig, fromSeconds);
      return agents.every((agent) => (totals.get(agent.host) ?? 0) >= agent.sent) ? true : undefined;
    },
    15_000,
    'every count to be stored',
  ).catch(() => undefined);
  totals = await storedTotals(server, keyFromConfig, fromSeconds);

  step('Counts sent over DogStatsD vs stored by the server (GET /api/v1/query sum:demo.requests{*} by {host}.as_count()):');
  for (const agent of agents)
    say(`  ${agent.host.padEnd(12)} sent ${String(agent.sent).padStart(5)}  stored ${String(totals.get(agent.host) ?? 0).padStart(5)}`);
  const lost = sent - stored();
  say(`  points sent: ${sent}, stored: ${stored()}, ${lost} lost${lost < 0 ? ` (${-lost} stored twice)` : ''}`);

  const revoked = report.old_keys.every((key) => key.revoked);
  say('');
  say(`Old key …${server.apiKey.key.slice(-4)}: ${revoked ? 'revoked' : 'STILL ACTIVE'}. New key …${newKey.last4} on all ${report.hosts.length} hosts.`);
  say(`Key page (chart of the rotation): ${server.url}/keys/${newKey.id}`);
  say(`Sign in as ${server.admin.email} / ${server.admin.password} (this demo's throwaway deployment).`);
  say(`Demo finished in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`);
  return lost === 0 && revoked ? 0 : 1;
}

// ---- the relay variant (--relay) ----------------------------------------------------------

/** The sum of a Prometheus sample's values over every label set, from `GET /metrics`. */
async function metricSum(server: Server, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match?.[1] === name && (match[2] ?? '').includes(labels)) sum += Number(match[3]);
  }
  return sum;
}

async function upstreamLast4(relay: Server): Promise<string> {
  const shown = await runCli(['upstream', 'show', '--data', relay.dataDir, '--org', relay.org, '--json']);
  if (shown.code !== 0) throw new Error(`rekey upstream show exited ${shown.code}: ${shown.stderr}`);
  return (JSON.parse(shown.stdout) as { api_key_last4: string }).api_key_last4;
}

/** `GET /api/v1/validate` on `server` with `apiKey`: the HTTP status. */
async function validateStatus(server: Server, apiKey: string): Promise<number> {
  const response = await fetch(`${server.url}/api/v1/validate`, { headers: { 'DD-API-KEY': apiKey }, signal: AbortSignal.timeout(10_000) });
  await response.arrayBuffer();
  return response.status;
}

/** Payload files left in an agent's on-disk queue (0 once the intake acknowledged every payload). */
function queuedPayloads(agent: DemoAgent): number {
  const queue = join(agent.pidFile, '..', 'queue');
  return existsSync(queue) ? readdirSync(queue).filter((name) => name.endsWith('.payload')).length : 0;
}

/**
 * `npm run demo -- --relay`: relay mode's point, with real processes. A second rekey server in
 * standalone mode plays Datadog (it speaks Datadog's API); the first runs in relay mode for its
 * organisation (`rekey upstream set`, the upstream key on stdin). Three rekey-agents hold the
 * relay's key and send through it throughout, while `rekey upstream rotate` replaces the
 * upstream key through the upstream's own API (DD_APP_KEY: an application key of the upstream
 * organisation). The summary: the upstream key before and after (last 4), the old one refused
 * upstream (403), the points the relay acknowledged vs those stored upstream (read back from
 * the upstream's /api/v1/query), and the agents touched: 0 — same config bytes, same processes.
 */
async function relayMain(): Promise<number> {
  say('rekey demo, relay mode: three agents → rekey (relay) → "Datadog" (a second rekey), the Datadog key rotated while they send.');
  say(`Temporary folder: ${root}`);

  step('Starting "Datadog" (a rekey server in standalone mode) and the relay (a rekey server), embedded SQLite, free ports…');
  const [upstream, relay] = await Promise.all([
    startServer('datadog-data'),
    // Demo timings: the relay re-reads its upstream settings every 200 ms (default 2 s) and
    // retries within a second instead of backing off up to a minute.
    startServer('relay-data', { REKEY_RELAY_POLL_MS: '200', REKEY_RELAY_RETRY_MAX_MS: '1000', REKEY_RELAY_KEY_RECHECK_MS: '1000' }),
  ]);
  say(`  "Datadog": ${upstream.url} — its API key …${upstream.apiKey.key.slice(-4)} will be the relay's upstream key`);
  say(`  relay:     ${relay.url} — the agents' key …${relay.apiKey.key.slice(-4)} (organization "${relay.org}")`);
  // A key of the upstream organisation the rotation does not touch: the demo reads the upstream with it.
  const observer = await new DatadogClient({ url: upstream.url, apiKey: upstream.apiKey.key, appKey: upstream.appKey }).createApiKey(
    'demo observer (reads the stored points)',
  );

  step(`rekey upstream set --org '${relay.org}' --site ${upstream.url} --allow-insecure --key-stdin   (the "Datadog" key on stdin)`);
  const set = await runCli(['upstream', 'set', '--data', relay.dataDir, '--org', relay.org, '--site', upstream.url, '--allow-insecure', '--key-stdin'], {
    input: `${upstream.apiKey.key}\n`,
    echo: true,
  });
  if (set.code !== 0) throw new Error(`rekey upstream set exited ${set.code}`);
  const before = await upstreamLast4(relay);
  // The relay reads the change within its poll interval: a probe payload shows when it forwards.
  await until(
    async () => {
      const response = await fetch(`${relay.url}/api/v1/series`, {
        method: 'POST',
        headers: { 'DD-API-KEY': relay.apiKey.key, 'content-type': 'application/json' },
        body: JSON.stringify({ series: [{ metric: 'demo.relay.probe', points: [[Math.floor(Date.now() / 1000), 1]], type: 'count' }] }),
      });
      await response.arrayBuffer();
      return (await metricSum(relay, 'rekey_relay_accepted_total')) > 0 ? true : undefined;
    },
    20_000,
    'the relay to forward (relay mode in effect)',
  );
  say('  the relay forwards its organization\'s payloads to "Datadog"');

  step(`Starting ${HOSTS.length} rekey-agents (datadog.yaml: the relay's URL and the relay's key — never the Datadog key)…`);
  const fromSeconds = Math.floor(Date.now() / 1000) - 20;
  const agents = await Promise.all(HOSTS.map((host) => startAgent(host, relay)));
  const configsAtStart = agents.map((agent) => readFileSync(agent.config, 'utf8'));
  const pidsAtStart = agents.map((agent) => agent.process.child.pid);

  step(`Sending ${METRIC} counts over DogStatsD to every agent, every 50 ms, throughout…`);
  const stopPump = startPump(agents);
  await until(
    async () => {
      const totals = await storedTotals(upstream, observer.key, fromSeconds);
      return HOSTS.every((host) => (totals.get(host) ?? 0) > 0) ? true : undefined;
    },
    30_000,
    'every agent\'s counts to reach "Datadog" through the relay',
  );
  say(`  "Datadog" stores counts from all ${HOSTS.length} hosts, forwarded with its key …${before}`);

  step(`rekey upstream rotate --org '${relay.org}'   (DD_APP_KEY: an application key of the "Datadog" organization)`);
  const rotation = await runCli(['upstream', 'rotate', '--data', relay.dataDir, '--org', relay.org], {
    env: { DD_APP_KEY: upstream.appKey },
    echo: true,
    timeoutMs: 120_000,
  });
  const after = await upstreamLast4(relay);
  const oldKeyStatus = await validateStatus(upstream, upstream.apiKey.key);

  // More traffic with the new upstream key, then stop: agents flush their open buckets on SIGTERM.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  stopPump();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const touched = agents.filter(
    (agent, i) => readFileSync(agent.config, 'utf8') !== configsAtStart[i] || agent.process.child.pid !== pidsAtStart[i] || !alive(agent.process.child),
  ).length;
  step('Stopping the agents (SIGTERM: they flush their open buckets and deliver their queues to the relay)…');
  // What the agents received (DogStatsD samples of 1), read before the stop.
  const received = await Promise.all(
    agents.map((agent) => fetchAgentStatus(join(agent.pidFile, '..'), 3000).then((status) => status.components.dogstatsd.metrics)),
  );
  await Promise.all(agents.map((agent) => stopChild(agent.process.child, 'SIGTERM', 15_000)));
  const leftInQueues = agents.reduce((sum, agent) => sum + queuedPayloads(agent), 0);
  // Every payload an agent sent was acknowledged by the relay (202) once its queue is empty.
  const acknowledged = leftInQueues === 0 ? received.reduce((sum, count) => sum + count, 0) : NaN;

  let totals = new Map<string, number>();
  const stored = () => HOSTS.reduce((sum, host) => sum + (totals.get(host) ?? 0), 0);
  await until(
    async () => {
      totals = await storedTotals(upstream, observer.key, fromSeconds);
      return stored() >= acknowledged && (await metricSum(relay, 'rekey_relay_spool_payloads')) === 0 ? true : undefined;
    },
    20_000,
    'the relay to deliver every acknowledged count',
  ).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 500)); // nothing more may arrive
  totals = await storedTotals(upstream, observer.key, fromSeconds);
  const spooled = await metricSum(relay, 'rekey_relay_spool_payloads');
  const payloads = await metricSum(relay, 'rekey_relay_accepted_total');
  const forwarded = await metricSum(relay, 'rekey_relay_forwarded_total', 'status="2');

  step('Counts acknowledged by the relay vs stored by "Datadog" (its GET /api/v1/query sum:demo.requests{*} by {host}.as_count()):');
  agents.forEach((agent, i) =>
    say(
      `  ${agent.host.padEnd(12)} sent ${String(agent.sent).padStart(5)}  acknowledged ${String(received[i]).padStart(5)}  stored upstream ${String(totals.get(agent.host) ?? 0).padStart(5)}`,
    ),
  );
  say(
    `  payloads: ${payloads} acknowledged by the relay, ${forwarded} accepted upstream, ${spooled} still in the relay's spool; ${leftInQueues} left in the agents' queues`,
  );
  say('');
  const rotated = rotation.code === 0 && after !== before;
  const checks: Array<[boolean, string]> = [
    [rotated, `upstream key before …${before}, after …${after}${rotation.code === 0 ? '' : ` (rekey upstream rotate exited ${rotation.code})`}`],
    [oldKeyStatus === 403, `old upstream key …${before} at "Datadog": ${oldKeyStatus}${oldKeyStatus === 403 ? ' (refused: revoked)' : ' (STILL ACCEPTED)'}`],
    [
      acknowledged === stored(),
      `points acknowledged by the relay: ${Number.isNaN(acknowledged) ? "unknown (payloads left in the agents' queues)" : acknowledged}, stored upstream: ${stored()}`,
    ],
    [touched === 0, `agents touched: ${touched}`],
  ];
  for (const [ok, line] of checks) say(`  ${ok ? 'ok  ' : 'FAIL'} ${line}`);
  say(`Demo finished in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`);
  return checks.every(([ok]) => ok) ? 0 : 1;
}

let exitCode: number;
try {
  exitCode = await (flags.relay ? relayMain() : main());
} catch (error) {
  // After Ctrl-C the children are being stopped under main's feet: its errors are expected.
  if (interrupted) await new Promise(() => {});
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  exitCode = 1;
}
if (waitAtEnd && exitCode === 0) {
  say(`\nThe ${flags.relay ? 'servers keep' : 'server keeps'} running so you can look around. Press Ctrl-C to stop and clean up.`);
  // The SIGINT handler above cleans up and exits.
  await new Promise(() => {});
}
await cleanUp();
process.exit(exitCode);
