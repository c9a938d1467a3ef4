/**
 * End to end with the real `rekey server` (SQLite, its own process), read back through
 * `GET /api/v1/query`:
 * - hot-shots → rekey-agent → rekey server: 10,000 increments and a gauge, exact totals;
 * - rotation: the server revokes the agent's key; once refused payloads are queued, `rekey
 *   config set-api-key` changes its file; every increment of the whole period is stored exactly once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import StatsD from 'hot-shots';
import { runRekey } from '../support/processes.js';
import { totalsByHost, type ServerProcess } from '../rotate/support/fleet.js';
import { stopAgent } from './support/agent-process.js';
import { realServerTestbed, startAgentIn } from './support/real-server.js';
import { waitFor } from './support/recording-intake.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function management(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'DD-API-KEY': server.apiKey.key, 'DD-APPLICATION-KEY': server.appKey, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function query(server: ServerProcess, q: string, from: number): Promise<Array<{ tag_set?: string[]; pointlist: Array<[number, number | null]> }>> {
  const to = Math.floor(Date.now() / 1000) + 60;
  const response = await fetch(`${server.url}/api/v1/query?from=${from}&to=${to}&query=${encodeURIComponent(q)}`, {
    headers: { 'DD-API-KEY': server.apiKey.key, 'DD-APPLICATION-KEY': server.appKey },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { series: Array<{ tag_set?: string[]; pointlist: Array<[number, number | null]> }> }).series;
}

test('hot-shots → rekey-agent → rekey server: 10,000 increments and gauges read back exactly', { timeout: 150_000 }, async (t) => {
  const { dir, server, from } = await realServerTestbed(t, 'rekey-agent-e2e-');
  const { agent } = await startAgentIn(t, dir, { apiKey: server.apiKey.key, url: server.url, hostname: 'e2e-hotshots' });
  const errors: Error[] = [];
  const client = new StatsD({
    host: '127.0.0.1',
    port: agent.dogstatsdPort,
    protocol: 'udp',
    maxBufferSize: 1200,
    bufferFlushInterval: 20,
    errorHandler: (e) => errors.push(e),
  });
  for (let i = 0; i < 10_000; i++) {
    client.increment('e2e.requests', 1, [`shard:${i % 4}`]);
    if (i % 1000 === 999) {
      client.gauge('e2e.level', (i + 1) / 1000);
      await sleep(5);
    }
  }
  await new Promise<void>((resolve) => client.close(() => resolve()));
  assert.deepEqual(errors, []);
  // SIGTERM queues the still-open bucket and delivers it before exiting.
  await sleep(1500);
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());

  await waitFor(
    async () => (await totalsByHost(server, 'e2e.requests', server.apiKey.key, from)).get('e2e-hotshots') === 10_000,
    20_000,
    'the total at the server',
  );
  const byShard = await query(server, 'sum:e2e.requests{*} by {shard}', from);
  // Rates per second over 10 s, as Datadog shows a counter: × 10 is what was counted.
  const shardTotals = byShard.map((s) => Math.round(s.pointlist.reduce((sum, [, v]) => sum + (v ?? 0), 0) * 10 * 1e6) / 1e6).sort();
  assert.deepEqual(shardTotals, [2500, 2500, 2500, 2500]);
  const level = await query(server, 'max:e2e.level{host:e2e-hotshots}', from);
  assert.equal(Math.max(...level.flatMap((s) => s.pointlist.map(([, v]) => v ?? -1))), 10);
  const mem = await query(server, 'avg:system.mem.total{host:e2e-hotshots}', from);
  assert.ok(mem.length > 0 && mem[0]!.pointlist.length > 0, 'host metrics stored');
});

test('real server revokes the key; later rekey config set-api-key: every point stored exactly once', { timeout: 150_000 }, async (t) => {
  const { dir, server, from } = await realServerTestbed(t, 'rekey-agent-e2e-rotation-');
  // The agent's own key (not the admin's), so revoking it leaves the admin a working key.
  const created = await management(server, 'POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name: 'agent-old' } } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const oldKey: string = created.body.data.attributes.key;
  // A backoff of 32 s or more after the first 403 (jitter: 32–64 s): only the file change can bring the delivery
  // back within the 20 s asserted below (no need to wait for the default backoff to grow).
  const { agent, config } = await startAgentIn(t, dir, {
    apiKey: oldKey,
    url: server.url,
    hostname: 'e2e-rotation',
    env: { REKEY_AGENT_BACKOFF_BASE_MS: '64000', REKEY_AGENT_BACKOFF_MAX_MS: '64000' },
  });
  const client = new StatsD({ host: '127.0.0.1', port: agent.dogstatsdPort, protocol: 'udp', maxBufferSize: 0 });
  let sent = 0;
  const pump = setInterval(() => {
    client.increment('e2e.rotation.ticks', 1);
    sent++;
  }, 100);
  t.after(() => clearInterval(pump));

  await sleep(3000);
  const revoked = await management(server, 'DELETE', `/api/v2/api_keys/${created.body.data.id}`);
  assert.ok(revoked.status === 204 || revoked.status === 200, `revoke: ${revoked.status}`);
  await waitFor(async () => (await agent.status()).apiKey.state === 'rejected', 20_000, 'the agent to see the 403');
  await waitFor(async () => (await agent.status()).queue.depth >= 3, 20_000, 'the refused payloads to be kept');

  const fresh = await management(server, 'POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name: 'agent-new' } } });
  const newKey: string = fresh.body.data.attributes.key;
  const set = await runRekey(['config', 'set-api-key', '--file', config, '--key-stdin'], { input: `${newKey}\n` });
  assert.equal(set.code, 0, set.stderr);
  const changedAt = Date.now();
  await waitFor(
    async () => {
      const s = await agent.status();
      return s.apiKey.last4 === newKey.slice(-4) && s.apiKey.state === 'accepted' && s.queue.depth <= 2;
    },
    30_000,
    'the backlog to be delivered with the new key',
  );
  const catchUpMs = Date.now() - changedAt;
  await sleep(2000);
  clearInterval(pump);
  await new Promise<void>((resolve) => client.close(() => resolve()));
  await sleep(200);
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());

  await waitFor(
    async () => ((await totalsByHost(server, 'e2e.rotation.ticks', server.apiKey.key, from)).get('e2e-rotation') ?? 0) >= sent,
    20_000,
    'every increment at the server',
  );
  await sleep(1000);
  const total = (await totalsByHost(server, 'e2e.rotation.ticks', server.apiKey.key, from)).get('e2e-rotation');
  assert.equal(total, sent, 'stored exactly once: no loss, no double count');
  assert.ok(catchUpMs < 20_000, `caught up ${catchUpMs} ms after the change`);
  assert.ok(!agent.output().includes(oldKey) && !agent.output().includes(newKey));
});
