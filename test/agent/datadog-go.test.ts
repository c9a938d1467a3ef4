/**
 * datadog-go's statsd client (Debian's golang-github-datadog-datadog-go-dev, compiled offline
 * here: no network, no module proxy) → a real rekey-agent → a real `rekey server`, read back
 * through the API as Datadog would show it (issue 17):
 * - counters and histogram/timing `.count` as rates (count ÷ 10 s, type rate);
 * - gauges, sets, histogram and timing aggregates;
 * - distributions as sketches: p50…p99, avg, count, min, max within DDSketch's 1 %;
 * - the event in GET /api/v1/events, the service check on its host in /api/v1/hosts, both
 *   counted in `rekey-agent status`.
 * Without the Go compiler or the package the test fails (it never skips): .ci/run installs them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { api } from '../rotate/support/fleet.js';
import { stopAgent } from './support/agent-process.js';
import { realServerTestbed, startAgentIn } from './support/real-server.js';
import { waitFor } from './support/recording-intake.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SOURCE = new URL('../fixtures/datadog-go-sender/main.go', import.meta.url);

/** Builds the sender with the Debian package only (GOPATH mode, no network). */
async function buildSender(dir: string): Promise<string> {
  const pkg = join(dir, 'gopath', 'src', 'ddsender');
  await mkdir(pkg, { recursive: true });
  await copyFile(SOURCE, join(pkg, 'main.go'));
  const binary = join(dir, 'ddsender');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GO111MODULE: 'off',
    GOPATH: `${join(dir, 'gopath')}:/usr/share/gocode`,
    GOCACHE: join(dir, 'gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
  };
  await run('go', ['build', '-o', binary, '.'], { cwd: pkg, env, timeout: 120_000 });
  return binary;
}

test(
  'datadog-go statsd → rekey-agent → rekey server: every type, an event and a service check read back as Datadog shows them',
  { timeout: 240_000 },
  async (t) => {
    const { dir, server, from } = await realServerTestbed(t, 'rekey-datadog-go-');
    const sender = await buildSender(dir);
    const { agent } = await startAgentIn(t, dir, { apiKey: server.apiKey.key, url: server.url, hostname: 'ddgo-host' });

    // Everything in one 10 s bucket: not in the last 1.5 s of one.
    if (Date.now() % 10_000 > 8_500) await sleep(10_000 - (Date.now() % 10_000) + 100);
    const bucket = Math.floor(Date.now() / 10_000) * 10;
    const eventAt = bucket - 5;
    await run(sender, [`127.0.0.1:${agent.dogstatsdPort}`, String(eventAt)], { timeout: 30_000 });
    await waitFor(async () => (await agent.status()).components.dogstatsd.serviceChecks === 1, 10_000, 'the service check at the agent');
    const status = (await agent.status()).components.dogstatsd;
    assert.equal(status.events, 1, 'the event is counted');
    assert.equal(status.metrics, 4 + 2 + 4 + 2 + 1000 + 4, 'every metric line is counted');
    assert.equal(status.errored, 0);
    // The agent's heartbeat (datadog.agent.up) goes out with a regular flush, never the last one:
    // wait for one (every second here) so a fast run does not stop the agent before its first.
    await waitFor(async () => (await agent.status()).lastFlushAt !== null, 10_000, 'a regular flush');
    // SIGTERM queues the open bucket and delivers it.
    assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());

    const to = Math.floor(Date.now() / 1000) + 60;
    const query = async (q: string) => {
      const answer = await api(server, `/api/v1/query?from=${from}&to=${to}&query=${encodeURIComponent(q)}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.series as Array<{ pointlist: Array<[number, number]>; tag_set: string[] }>;
    };
    const only = async (q: string) => {
      const series = await query(q);
      assert.equal(series.length, 1, `${q}: one series`);
      assert.equal(series[0]!.pointlist.length, 1, `${q}: one point`);
      assert.equal(series[0]!.pointlist[0]![0], bucket * 1000, `${q}: at the bucket's start`);
      return series[0]!.pointlist[0]![1];
    };
    await waitFor(async () => (await query('p50:ddgo.latency{*}')).length === 1, 20_000, 'the sketches at the server');

    // Counters as Datadog shows them: 13 counted in 10 s is 1.3/s.
    assert.equal(await only('sum:ddgo.requests{route:/a,app:sender}'), 1.3);
    assert.equal(await only('avg:ddgo.queue.depth{*}'), 7.5);
    assert.equal(await only('avg:ddgo.users{*}'), 3);
    assert.equal(await only('avg:ddgo.payload.bytes.avg{*}'), 25);
    assert.equal(await only('max:ddgo.payload.bytes.max{*}'), 40);
    assert.equal(await only('avg:ddgo.payload.bytes.count{*}'), 0.4, 'four samples in 10 s: 0.4/s');
    assert.equal(await only('avg:ddgo.db.query.avg{*}'), 500);
    assert.equal(await only('avg:ddgo.db.query.count{*}'), 0.2);

    // Distributions: 1.5, 3, … 1500 as a sketch.
    const values = Array.from({ length: 1000 }, (_, i) => (i + 1) * 1.5);
    const exact: Record<string, number> = { count: 1000, min: 1.5, max: 1500, avg: 750.75, sum: 750_750 };
    for (const [name, q] of [
      ['p50', 0.5],
      ['p75', 0.75],
      ['p90', 0.9],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const)
      exact[name] = values[Math.floor(q * 999)]!;
    for (const [aggregator, expected] of Object.entries(exact)) {
      const read = await only(`${aggregator}:ddgo.latency{svc:api}`);
      assert.ok(Math.abs(read - expected) <= 0.01 * expected, `${aggregator}: ${read}, exact ${expected}`);
    }
    assert.deepEqual(await query('avg:ddgo.latency.avg{*}'), [], 'no host-side histogram gauges for a distribution');

    // The event, as Datadog's v1 API lists it.
    const events = await api(server, `/api/v1/events?start=${eventAt - 1}&end=${eventAt + 1}`);
    assert.equal(events.status, 200);
    assert.equal(events.body.events.length, 1);
    const [event] = events.body.events;
    assert.equal(event.title, 'Deployed v2');
    assert.equal(event.text, 'release notes\nline 2');
    assert.equal(event.date_happened, eventAt);
    assert.equal(event.priority, 'low');
    assert.equal(event.alert_type, 'success');
    assert.equal(event.source_type_name, 'ci');
    assert.equal(event.host, 'ddgo-host', "the agent's hostname, as the Datadog Agent sets it");
    assert.deepEqual(event.tags, ['app:sender', 'env:prod']);

    // The service check's status on its host.
    const hosts = await api(server, '/api/v1/hosts?filter=ddgo-host');
    const checks = hosts.body.host_list[0].service_checks as Array<{ check: string; status: number; message: string; tags: string[]; timestamp: number }>;
    const check = checks.find((c) => c.check === 'ddgo.db.can_connect');
    assert.deepEqual(check, { check: 'ddgo.db.can_connect', status: 2, timestamp: eventAt, message: 'connection refused', tags: ['app:sender', 'db:main'] });
    assert.ok(
      checks.some((c) => c.check === 'datadog.agent.up' && c.status === 0),
      JSON.stringify(checks),
    );
  },
);
