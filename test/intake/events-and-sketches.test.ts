/**
 * Issue 17 on the server, over real HTTP, on SQLite and PostgreSQL:
 * - events: the official client's v1 EventsApi (create, list with start/end/priority/sources/
 *   tags, get) deserializes what rekey answers; the Agent's `/intake/` events payload is stored
 *   as events and leaves the host's metadata alone;
 * - service checks: the latest status per check shows on its host in `/api/v1/hosts`;
 * - distributions: an Agent-7-shaped SketchPayload, built here byte by byte from the field
 *   numbers of agent-payload's agent_payload.proto and the Agent's key formula (not with
 *   rekey's encoder), is accepted; sketches of two hosts merge, and every aggregator
 *   `avg|sum|min|max|count|p50…p99` reads back within DDSketch's 1 % of the exact value;
 * - a series' `unit` is kept and returned as Datadog's `series[].unit` (the client reads it).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import protobuf from 'protobufjs';
import { DIALECTS } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';

/** The Datadog Agent's sketch key of `v` (pkg/quantile: γ = 1 + 2/128, min 1e-9, round half to even). */
function agentKey(v: number): number {
  const lnGamma = Math.log1p(2 / 128);
  const bias = 1 - Math.floor(Math.log(1e-9) / lnGamma);
  if (v === 0) return 0;
  if (v < 0) return -agentKey(-v);
  const x = Math.log(v) / lnGamma;
  const floor = Math.floor(x);
  const rounded = x - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(x);
  return rounded + bias;
}

/** A SketchPayload as the Agent writes it: field numbers only, packed k (sint32) and n (uint32). */
function agentSketchPayload(sketches: Array<{ metric: string; host: string; tags: string[]; ts: number; values: number[] }>): Uint8Array {
  const w = protobuf.Writer.create();
  for (const s of sketches) {
    const bins = new Map<number, number>();
    for (const v of s.values) bins.set(agentKey(v), (bins.get(agentKey(v)) ?? 0) + 1);
    const keys = [...bins.keys()].sort((a, b) => a - b);
    const d = protobuf.Writer.create();
    d.uint32((1 << 3) | 0).int64(s.ts);
    d.uint32((2 << 3) | 0).int64(s.values.length);
    d.uint32((3 << 3) | 1).double(Math.min(...s.values));
    d.uint32((4 << 3) | 1).double(Math.max(...s.values));
    const sum = s.values.reduce((a, b) => a + b, 0);
    d.uint32((5 << 3) | 1).double(sum / s.values.length);
    d.uint32((6 << 3) | 1).double(sum);
    d.uint32((7 << 3) | 2).fork();
    for (const k of keys) d.sint32(k);
    d.ldelim();
    d.uint32((8 << 3) | 2).fork();
    for (const k of keys) d.uint32(bins.get(k)!);
    d.ldelim();
    const sketch = protobuf.Writer.create();
    sketch.uint32((1 << 3) | 2).string(s.metric);
    sketch.uint32((2 << 3) | 2).string(s.host);
    for (const tag of s.tags) sketch.uint32((4 << 3) | 2).string(tag);
    sketch.uint32((7 << 3) | 2).bytes(d.finish());
    w.uint32((1 << 3) | 2).bytes(sketch.finish());
  }
  // CommonMetadata (field 2), as the Agent sends it.
  const metadata = protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string('7.50.0')
    .finish();
  w.uint32((2 << 3) | 2).bytes(metadata);
  return w.finish();
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

for (const dialect of DIALECTS) {
  describe(`events, service checks and sketches on ${dialect.name}`, () => {
    let f: IntakeFixture;
    let url: string;
    let configuration: client.Configuration;
    const now = Math.floor(Date.now() / 1000);

    before(async () => {
      f = await createIntakeFixture(dialect);
      await f.app.listen({ host: '127.0.0.1', port: 0 });
      url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
      configuration = client.createConfiguration({
        authMethods: { apiKeyAuth: f.apiKey, appKeyAuth: f.appKey },
        baseServer: new client.BaseServerConfiguration(url, {}),
        enableRetry: false,
      });
    });
    after(() => f.close());

    const post = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'DD-API-KEY': f.apiKey, ...headers }, body });
    const read = async (path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { 'DD-API-KEY': f.apiKey, 'DD-APPLICATION-KEY': f.appKey } });
      return { status: response.status, body: (await response.json()) as any };
    };

    it("events: created, listed with Datadog's filters and read back by the official client", async () => {
      const api = new v1.EventsApi(configuration);
      const created = await api.createEvent({
        body: {
          title: 'deploy web',
          text: 'v2 is out',
          dateHappened: now - 60,
          priority: 'normal',
          host: 'web-1',
          tags: ['env:prod', 'team:web'],
          alertType: 'success',
          sourceTypeName: 'jenkins',
          aggregationKey: 'deploys',
        },
      });
      assert.equal(created.status, 'ok');
      assert.ok(typeof created.event!.id === 'number' && created.event!.id > 0);
      await api.createEvent({ body: { title: 'low one', text: '', dateHappened: now - 30, priority: 'low', host: 'db-1', tags: ['env:staging'] } });

      const all = await api.listEvents({ start: now - 3600, end: now + 60 });
      assert.deepEqual(
        all.events!.map((e) => e.title),
        ['low one', 'deploy web'],
        'newest first',
      );
      const deploy = all.events![1]!;
      assert.equal(deploy.text, 'v2 is out');
      assert.equal(deploy.dateHappened, now - 60);
      assert.equal(deploy.alertType, 'success');
      assert.equal(deploy.host, 'web-1');
      assert.equal(deploy.sourceTypeName, 'jenkins');
      assert.deepEqual(deploy.tags, ['env:prod', 'team:web']);
      assert.equal(deploy.idStr, String(deploy.id));

      assert.deepEqual(
        (await api.listEvents({ start: now - 3600, end: now + 60, tags: 'env:prod' })).events!.map((e) => e.title),
        ['deploy web'],
      );
      assert.deepEqual(
        (await api.listEvents({ start: now - 3600, end: now + 60, priority: 'low' })).events!.map((e) => e.title),
        ['low one'],
      );
      assert.deepEqual(
        (await api.listEvents({ start: now - 3600, end: now + 60, sources: 'jenkins' })).events!.map((e) => e.title),
        ['deploy web'],
      );
      assert.deepEqual(
        (await api.listEvents({ start: now - 45, end: now + 60 })).events!.map((e) => e.title),
        ['low one'],
        'start/end bound date_happened',
      );
      assert.equal((await api.getEvent({ eventId: deploy.id! })).event!.title, 'deploy web');
      assert.equal((await read(`/api/v1/events/${deploy.id! + 1000}`)).status, 404);
      const bad = await post('/api/v1/events', JSON.stringify({ text: 'no title' }), { 'Content-Type': 'application/json' });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(await bad.json()), /title must be a non-empty string/);
    });

    it("the Agent's /intake/ events payload is stored as events; the host's metadata is kept", async () => {
      const metadata = { internalHostname: 'agent-host', agentVersion: '7.50.0', meta: { hostname: 'agent-host' } };
      assert.equal((await post('/intake/', JSON.stringify(metadata), { 'Content-Type': 'application/json' })).status, 202);
      const events = {
        events: {
          api: [
            {
              msg_title: 'from dogstatsd',
              msg_text: 'line 1\nline 2',
              timestamp: now - 10,
              priority: 'normal',
              host: '',
              tags: ['src:dsd'],
              alert_type: 'warning',
              aggregation_key: '',
              source_type_name: '',
            },
          ],
          nagios: [{ msg_title: 'from nagios', msg_text: '', timestamp: now - 5, priority: 'low', host: 'other-host', tags: [], alert_type: 'error' }],
        },
        internalHostname: 'agent-host',
      };
      const response = await post('/intake/', deflateSync(JSON.stringify(events)), { 'Content-Type': 'application/json', 'Content-Encoding': 'deflate' });
      assert.equal(response.status, 202);
      const listed = await read(`/api/v1/events?start=${now - 20}&end=${now + 60}&tags=src:dsd`);
      assert.deepEqual(
        listed.body.events.map((e: any) => [e.title, e.text, e.host, e.alert_type, e.source_type_name]),
        [['from dogstatsd', 'line 1\nline 2', 'agent-host', 'warning', undefined]],
      );
      const nagios = await read(`/api/v1/events?start=${now - 20}&end=${now + 60}&sources=nagios`);
      assert.deepEqual(
        nagios.body.events.map((e: any) => [e.title, e.host, e.priority]),
        [['from nagios', 'other-host', 'low']],
      );
      const hosts = await new v1.HostsApi(configuration).listHosts({ filter: 'agent-host' });
      assert.equal(hosts.hostList![0]!.meta!.agentVersion, '7.50.0', 'the events payload did not replace the metadata');
    });

    it('service checks: the latest status of each check shows on its host in /api/v1/hosts', async () => {
      const runs = (status: number, ts: number) => [
        { check: 'db.can_connect', host_name: 'sc-host', status, timestamp: ts, message: status === 0 ? '' : 'refused', tags: ['db:main'] },
        { check: 'datadog.agent.up', host_name: 'sc-host', status: 0, timestamp: ts, tags: [] },
      ];
      assert.equal((await post('/api/v1/check_run', JSON.stringify(runs(0, now - 20)), { 'Content-Type': 'application/json' })).status, 202);
      assert.equal((await post('/api/v1/check_run', JSON.stringify(runs(2, now - 10)), { 'Content-Type': 'application/json' })).status, 202);
      const hosts = await read('/api/v1/hosts?filter=sc-host');
      assert.deepEqual(hosts.body.host_list[0].service_checks, [
        { check: 'datadog.agent.up', status: 0, timestamp: now - 10, message: '', tags: [] },
        { check: 'db.can_connect', status: 2, timestamp: now - 10, message: 'refused', tags: ['db:main'] },
      ]);
      // The official client still deserializes the host list (an extra field is allowed).
      const listed = await new v1.HostsApi(configuration).listHosts({ filter: 'sc-host' });
      assert.equal(listed.hostList![0]!.name, 'sc-host');
    });

    it('an Agent-7-shaped SketchPayload is accepted; sketches merge across hosts; every aggregator within 1 %', async () => {
      const ts = now - (now % 10) - 20;
      const web1 = Array.from({ length: 500 }, (_, i) => 1 + i * 0.37); // 1 … 185.6
      const web2 = Array.from({ length: 300 }, (_, i) => 50 + ((i * 7919) % 1000) * 1.3); // 50 … 1348.7
      const payload = agentSketchPayload([
        { metric: 'req.latency', host: 'web-1', tags: ['env:prod', 'svc:api'], ts, values: web1 },
        { metric: 'req.latency', host: 'web-2', tags: ['svc:api', 'env:prod'], ts, values: web2 },
      ]);
      for (let attempt = 0; attempt < 2; attempt++) {
        // Sent twice (a re-sent payload): stored once.
        const response = await post('/api/beta/sketches', deflateSync(payload), {
          'Content-Type': 'application/x-protobuf',
          'Content-Encoding': 'deflate',
          'User-Agent': 'datadog-agent/7.50.0',
        });
        assert.equal(response.status, 202, await response.clone().text());
        assert.deepEqual(await response.json(), { errors: [] });
      }
      const all = [...web1, ...web2].sort((a, b) => a - b);
      const sum = all.reduce((a, b) => a + b, 0);
      const expected: Record<string, number> = {
        count: all.length,
        sum,
        avg: sum / all.length,
        min: all[0]!,
        max: all[all.length - 1]!,
        p50: exactQuantile(all, 0.5),
        p75: exactQuantile(all, 0.75),
        p90: exactQuantile(all, 0.9),
        p95: exactQuantile(all, 0.95),
        p99: exactQuantile(all, 0.99),
      };
      for (const [aggregator, value] of Object.entries(expected)) {
        const answer = await read(`/api/v1/query?from=${now - 3600}&to=${now + 60}&query=${encodeURIComponent(`${aggregator}:req.latency{env:prod}`)}`);
        assert.equal(answer.status, 200);
        assert.equal(answer.body.series.length, 1, aggregator);
        const [[at, read_]] = answer.body.series[0].pointlist;
        assert.equal(at, ts * 1000);
        assert.ok(Math.abs(read_ - value) <= 0.01 * Math.abs(value), `${aggregator}: ${read_} vs exact ${value}`);
        if (['count', 'sum', 'min', 'max'].includes(aggregator)) assert.ok(Math.abs(read_ - value) < 1e-9 * Math.abs(value), `${aggregator} is exact`);
      }
      const byHost = await read(`/api/v1/query?from=${now - 3600}&to=${now + 60}&query=${encodeURIComponent('p99:req.latency{*} by {host}')}`);
      assert.deepEqual(
        byHost.body.series.map((s: any) => s.tag_set),
        [['host:web-1'], ['host:web-2']],
      );
      const p99web1 = byHost.body.series[0].pointlist[0][1];
      assert.ok(Math.abs(p99web1 - exactQuantile(web1, 0.99)) <= 0.01 * exactQuantile(web1, 0.99));
      // Comma-separated queries: each distribution query from its sketches, a points query from
      // points, in their order (query_index), in one answer.
      await post('/api/v2/series', JSON.stringify({ series: [{ metric: 'req.count', type: 3, points: [{ timestamp: ts, value: 4 }] }] }), {
        'Content-Type': 'application/json',
      });
      const several = await read(
        `/api/v1/query?from=${now - 3600}&to=${now + 60}&query=${encodeURIComponent('count:req.latency{*},avg:req.count{*},p50:req.latency{*}')}`,
      );
      assert.equal(several.status, 200, JSON.stringify(several.body));
      assert.deepEqual(
        several.body.series.map((s: any) => [s.query_index, s.aggr, s.pointlist[0][1] === expected.count ? 'count' : s.pointlist[0][1]]),
        [
          [0, 'count', 'count'],
          [1, 'avg', 4],
          [2, 'p50', several.body.series[2].pointlist[0][1]],
        ],
      );
      assert.ok(Math.abs(several.body.series[2].pointlist[0][1] - expected.p50!) <= 0.01 * expected.p50!);
      // count: of a metric without sketches is refused as percentiles are.
      const countOfGauge = await read(`/api/v1/query?from=${now - 3600}&to=${now + 60}&query=${encodeURIComponent('count:req.count{*}')}`);
      assert.equal(countOfGauge.status, 400);
      // Hosts that sent sketches are in the host list.
      const hosts = await read('/api/v1/hosts?filter=web-');
      assert.deepEqual(hosts.body.host_list.map((h: any) => h.name).sort(), ['web-1', 'web-2']);
    });

    it("a series' unit is kept and returned by the query as Datadog's MetricsQueryUnit", async () => {
      const accepted = await new v2.MetricsApi(configuration).submitMetrics({
        body: {
          series: [
            { metric: 'net.bytes_sent', type: 3, unit: 'byte', points: [{ timestamp: now - 30, value: 2048 }], resources: [{ name: 'web-1', type: 'host' }] },
          ],
        },
      });
      assert.deepEqual(accepted.errors, []);
      const result = await new v1.MetricsApi(configuration).queryMetrics({ from: now - 3600, to: now + 60, query: 'avg:net.bytes_sent{*}' });
      const unit = result.series![0]!.unit!;
      assert.equal(unit.length, 2);
      assert.deepEqual([unit[0]!.name, unit[0]!.family, unit[0]!.plural, unit[0]!.shortName, unit[0]!.scaleFactor], ['byte', 'bytes', 'bytes', 'B', 1]);
      assert.equal(unit[1], null);
      // A metric whose series named no unit has none.
      await new v2.MetricsApi(configuration).submitMetrics({ body: { series: [{ metric: 'no.unit', type: 3, points: [{ timestamp: now - 30, value: 1 }] }] } });
      const plain = await read(`/api/v1/query?from=${now - 3600}&to=${now + 60}&query=avg:no.unit{*}`);
      assert.equal(plain.body.series[0].unit, null);
    });

    it('a bad sketch is left out and named; a payload that is not a SketchPayload is 400', async () => {
      const good = agentSketchPayload([{ metric: 'ok.dist', host: 'h', tags: [], ts: now - 10, values: [1, 2, 3] }]);
      const old = agentSketchPayload([{ metric: 'old.dist', host: 'h', tags: [], ts: now - 30 * 24 * 3600, values: [1] }]);
      const mixed = new Uint8Array([...good, ...old]);
      const response = await post('/api/beta/sketches', mixed, { 'Content-Type': 'application/x-protobuf' });
      assert.equal(response.status, 202);
      const body = (await response.json()) as { errors: string[] };
      assert.equal(body.errors.length, 1);
      assert.match(body.errors[0]!, /sketches\[1\]\.dogsketches\[0\]\.ts .* is older than/);
      const garbage = await post('/api/beta/sketches', new Uint8Array([0x0a, 0xff, 0xff, 0x01]), { 'Content-Type': 'application/x-protobuf' });
      assert.equal(garbage.status, 400);
    });
  });
}
