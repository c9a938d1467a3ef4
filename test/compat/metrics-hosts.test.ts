/**
 * The metric, host, check-run, search and validate endpoints driven by the official client
 * (v1 MetricsApi, HostsApi, ServiceChecksApi, v2 KeyManagementApi validate; answers checked
 * against its models) and the zorkian Go client compiled from Debian's package, on SQLite and
 * PostgreSQL. Each test is one row of test/compat/matrix.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import { DIALECTS } from '../support/dialects.js';
import { clientConfiguration, expectApiException, startLiveServer, type LiveServer } from '../server/live-server.js';
import type { SeededOrg } from '../server/seed.js';
import { compatCase } from './matrix.js';
import { assertParsed } from './official-model-check.js';
import { buildZorkianClient, type ZorkianClient } from './zorkian-client.js';

interface ZorkianSeries {
  metric?: string;
  pointlist?: Array<[number, number]>;
  scope?: string;
  expression?: string;
  interval?: number;
}

for (const dialect of DIALECTS) {
  describe(`metrics, hosts, checks and search with foreign clients on ${dialect.name}`, () => {
    let live: LiveServer;
    let acme: SeededOrg;
    let zorkian: ZorkianClient;
    let config: client.Configuration;
    // A minute boundary 10 minutes ago: every point is inside the intake's window.
    const t0 = Math.floor(Date.now() / 1000 / 60) * 60 - 600;
    const window = { from: t0 - 60, to: t0 + 300 };
    const admin = () => ({ apiKey: acme.apiSecret, appKey: acme.users.admin.appSecret });

    before(async () => {
      live = await startLiveServer(() => dialect.createStore(), ['Acme']);
      [acme] = live.orgs as [SeededOrg];
      zorkian = await buildZorkianClient(live.baseUrl);
      config = clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.admin.appSecret);
      // A host an Agent describes (its /intake/ metadata), as the Agent sends it.
      const intake = await fetch(`${live.baseUrl}/intake/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'dd-api-key': acme.apiSecret },
        body: JSON.stringify({
          internalHostname: 'web-1',
          agentVersion: '7.52.0',
          meta: { 'socket-hostname': 'web-1', 'socket-fqdn': 'web-1.example' },
          systemStats: { cpuCores: 4, machine: 'x86_64', platform: 'linux', processor: 'Intel', pythonV: '3.11.8', nixV: ['debian', '12', ''] },
        }),
      });
      assert.equal(intake.status, 202);
    });
    after(async () => {
      await zorkian?.close();
      await live?.close();
    });

    compatCase('official-v1-submit-metrics', async () => {
      const api = new v1.MetricsApi(config);
      const response = await api.submitMetrics({
        body: {
          series: [
            // A rate as the Agent sends a counter: 1.5/s over 10 s.
            { metric: 'compat.requests', type: 'rate', interval: 10, host: 'web-1', tags: ['env:prod', 'role:web'], points: [[t0, 1.5], [t0 + 10, 1.5], [t0 + 60, 3]] },
            { metric: 'compat.requests', type: 'rate', interval: 10, host: 'web-2', tags: ['env:prod', 'role:web'], points: [[t0, 0.5], [t0 + 60, 1]] },
            { metric: 'compat.requests', type: 'rate', interval: 10, host: 'db-1', tags: ['env:dev', 'role:db'], points: [[t0, 10]] },
            { metric: 'compat.errors', type: 'gauge', host: 'web-1', tags: ['env:prod', 'role:web'], points: [[t0, 3], [t0 + 60, 6]] },
          ],
        },
      });
      assertParsed(response);
      assert.equal(response.status, 'ok');
    });

    compatCase('official-v1-query-metrics', async () => {
      const api = new v1.MetricsApi(config);
      const query = async (text: string) => {
        const response = await api.queryMetrics({ from: window.from, to: window.to, query: text });
        assertParsed(response);
        assert.equal(response.status, 'ok');
        return response.series!;
      };
      // .as_count(): 1.5/s over 10 s is 15 per point; the web hosts summed.
      const [counted] = await query('sum:compat.requests{role:web}.as_count()');
      assert.deepEqual(counted!.pointlist, [[t0 * 1000, 20], [(t0 + 10) * 1000, 15], [(t0 + 60) * 1000, 40]]);
      assert.equal(counted!.expression, 'sum:compat.requests{role:web}.as_count()');
      assert.equal(counted!.scope, 'role:web');
      // .rollup(sum, 60) by host, negated and wildcard filters.
      const byHost = await query('sum:compat.requests{env:prod,!host:web-2,role:w*} by {host}.as_count().rollup(sum, 60)');
      assert.deepEqual(byHost.map((s) => [s.tagSet, s.interval, s.pointlist]), [[['host:web-1'], 60, [[t0 * 1000, 30], [(t0 + 60) * 1000, 30]]]]);
      // Arithmetic between queries and with constants; comma-separated queries.
      const [ratio, scaled] = await query('sum:compat.errors{*} / sum:compat.requests{host:web-1}, avg:compat.errors{*} * 10');
      assert.deepEqual(ratio!.pointlist, [[t0 * 1000, 2], [(t0 + 60) * 1000, 2]]);
      assert.equal(ratio!.queryIndex, 0);
      assert.deepEqual(scaled!.pointlist, [[t0 * 1000, 30], [(t0 + 60) * 1000, 60]]);
      assert.equal(scaled!.queryIndex, 1);
      await expectApiException(api.queryMetrics({ from: window.from, to: window.to, query: 'sum:compat.requests{*}.bogus()' }), 400);
    });

    compatCase('http-v1-query-keys-in-query', async () => {
      const params = new URLSearchParams({ from: String(window.from), to: String(window.to), query: 'max:compat.errors{*}', api_key: acme.apiSecret, application_key: acme.users.read_only.appSecret });
      const response = await fetch(`${live.baseUrl}/api/v1/query?${params}`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { series: Array<{ pointlist: unknown }> };
      assert.deepEqual(body.series[0]!.pointlist, [[t0 * 1000, 3], [(t0 + 60) * 1000, 6]]);
      // Not on v2: the headers only.
      const v2 = await fetch(`${live.baseUrl}/api/v2/api_keys?${new URLSearchParams({ api_key: acme.apiSecret, application_key: acme.users.admin.appSecret })}`);
      assert.equal(v2.status, 403);
    });

    compatCase('official-v1-list-active-metrics', async () => {
      const api = new v1.MetricsApi(config);
      const active = await api.listActiveMetrics({ from: window.from });
      assertParsed(active);
      assert.deepEqual(active.metrics, ['compat.errors', 'compat.requests']);
      assert.deepEqual((await api.listActiveMetrics({ from: t0 + 3600 })).metrics, []);
      // The difference: host= does not narrow the list.
      assert.deepEqual((await api.listActiveMetrics({ from: window.from, host: 'db-1' })).metrics, ['compat.errors', 'compat.requests']);
    });

    compatCase('official-v1-search-metrics', async () => {
      const found = await new v1.MetricsApi(config).listMetrics({ q: 'metrics:compat.err' });
      assertParsed(found);
      assert.deepEqual(found.results!.metrics, ['compat.errors']);
    });

    compatCase('official-v1-list-hosts', async () => {
      const api = new v1.HostsApi(config);
      const all = await api.listHosts({ sortField: 'name', sortDir: 'desc' });
      assertParsed(all);
      assert.deepEqual(all.hostList!.map((h) => h.name), ['web-2', 'web-1', 'db-1']);
      const web1 = await api.listHosts({ filter: 'host:web-1' });
      assert.deepEqual(web1.hostList!.map((h) => h.name), ['web-1']);
      assert.equal(web1.totalMatching, 1);
      const host = web1.hostList![0]!;
      assert.equal(host.meta!.agentVersion, '7.52.0');
      assert.equal(host.meta!.cpuCores, 4);
      assert.equal(host.meta!.platform, 'linux');
      assert.equal(host.meta!.socketFqdn, 'web-1.example');
      assert.deepEqual(host.sources, ['agent']);
      // A host named only in API payloads.
      const db = (await api.listHosts({ filter: 'host:db-1' })).hostList![0]!;
      assert.deepEqual(db.sources, ['api']);
      assert.deepEqual((await api.listHosts({ filter: 'host:web' })).hostList, []);
      assert.deepEqual((await api.listHosts({ filter: 'web', sortField: 'name', sortDir: 'asc' })).hostList!.map((h) => h.name), ['web-1', 'web-2']);
      await expectApiException(api.listHosts({ sortDir: 'sideways' }), 400);
    });

    compatCase('official-v1-host-totals', async () => {
      const totals = await new v1.HostsApi(config).getHostTotals({ from: window.from });
      assertParsed(totals);
      assert.deepEqual([totals.totalActive, totals.totalUp], [3, 3]);
    });

    compatCase('official-v1-submit-service-check', async () => {
      const response = await new v1.ServiceChecksApi(config).submitServiceCheck({
        body: [{ check: 'app.ok', hostName: 'web-1', status: 0, tags: ['env:prod'], message: 'fine' }],
      });
      assertParsed(response);
      assert.equal(response.status, 'ok');
    });

    compatCase('official-v1-submit-distribution-points', async () => {
      await expectApiException(new v1.MetricsApi(config).submitDistributionPoints({ body: { series: [{ metric: 'compat.latency', points: [[t0, [1, 2, 3]]] }] } }), 404);
    });

    compatCase('official-v2-validate-keys', async () => {
      const api = new v2.KeyManagementApi(clientConfiguration(live.baseUrl, acme.apiSecret));
      const ok = await api.validateAPIKey();
      assertParsed(ok);
      assert.equal(ok.status, 'ok');
      await expectApiException(new v2.KeyManagementApi(clientConfiguration(live.baseUrl, '0'.repeat(32))).validateAPIKey(), 403);
    });

    compatCase('official-v2-validate', async () => {
      const configuration = clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.admin.appSecret);
      configuration.unstableOperations['v2.validate'] = true;
      const ok = await new v2.KeyManagementApi(configuration).validate();
      assertParsed(ok);
      assert.equal(ok.data.attributes.apiKeyId, acme.apiKey.id);
      assert.equal(ok.data.attributes.valid, true);
    });

    compatCase('official-v2-api-key-remote-config', async () => {
      const api = new v2.KeyManagementApi(config);
      const created = await api.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'rc', remoteConfigReadEnabled: true } } } });
      assertParsed(created);
      // Missing: the flag asked for is not kept.
      assert.equal(created.data!.attributes!.remoteConfigReadEnabled, false);
    });

    compatCase('zorkian-post-metrics', async () => {
      const outcome = await zorkian.call('PostMetrics', admin(), {
        json: [{ metric: 'compat.go', type: 'gauge', host: 'go-1', tags: ['lang:go'], points: [[t0, 7], [t0 + 60, 9]] }],
      });
      assert.deepEqual(outcome, { ok: true, value: null });
    });

    compatCase('zorkian-query-metrics', async () => {
      const outcome = await zorkian.call<ZorkianSeries[]>('QueryMetrics', admin(), { ...window, query: 'avg:compat.go{lang:go} by {host}, sum:compat.go{*} + 1' });
      assert.equal(outcome.ok, true, outcome.error);
      assert.deepEqual(outcome.value.map((s) => [s.metric, s.scope, s.pointlist]), [
        ['compat.go', 'lang:go,host:go-1', [[t0 * 1000, 7], [(t0 + 60) * 1000, 9]]],
        ['sum:compat.go{*} + 1', '*', [[t0 * 1000, 8], [(t0 + 60) * 1000, 10]]],
      ]);
    });

    compatCase('zorkian-post-check', async () => {
      const outcome = await zorkian.call('PostCheck', admin(), { json: { check: 'go.ok', host_name: 'go-1', status: 1, message: 'slow', tags: ['lang:go'] } });
      assert.deepEqual(outcome, { ok: true, value: null });
      const timed = await zorkian.call('PostCheck', admin(), { json: { check: 'go.ok', host_name: 'go-1', status: 0, timestamp: String(t0) } });
      assert.deepEqual(timed, { ok: true, value: null });
      const bad = await zorkian.call('PostCheck', admin(), { json: { check: 'go.ok', host_name: 'go-1', status: 0, timestamp: 'yesterday' } });
      assert.equal(bad.ok, false);
      assert.match(bad.error!, /400/);
    });

    compatCase('zorkian-search-hosts', async () => {
      const outcome = await zorkian.call<string[]>('SearchHosts', admin(), { arg: 'web' });
      assert.deepEqual(outcome, { ok: true, value: ['web-1', 'web-2'] });
    });

    compatCase('zorkian-search-metrics', async () => {
      const outcome = await zorkian.call<string[]>('SearchMetrics', admin(), { arg: 'compat.' });
      assert.deepEqual(outcome, { ok: true, value: ['compat.errors', 'compat.go', 'compat.requests'] });
    });

    compatCase('zorkian-get-host-totals', async () => {
      const outcome = await zorkian.call<{ total_up: number; total_active: number }>('GetHostTotals', admin());
      assert.deepEqual(outcome, { ok: true, value: { total_up: 4, total_active: 4 } });
    });
  });
}
