/**
 * The metric, host, check-run, search and validate endpoints, and the v2 key settings
 * (remote_config_read_enabled, category, application key scopes), driven by the official client
 * (v1 MetricsApi, HostsApi, ServiceChecksApi, v2 KeyManagementApi; answers checked
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
            {
              metric: 'compat.requests',
              type: 'rate',
              interval: 10,
              host: 'web-1',
              tags: ['env:prod', 'role:web'],
              points: [
                [t0, 1.5],
                [t0 + 10, 1.5],
                [t0 + 60, 3],
              ],
            },
            {
              metric: 'compat.requests',
              type: 'rate',
              interval: 10,
              host: 'web-2',
              tags: ['env:prod', 'role:web'],
              points: [
                [t0, 0.5],
                [t0 + 60, 1],
              ],
            },
            { metric: 'compat.requests', type: 'rate', interval: 10, host: 'db-1', tags: ['env:dev', 'role:db'], points: [[t0, 10]] },
            {
              metric: 'compat.errors',
              type: 'gauge',
              host: 'web-1',
              tags: ['env:prod', 'role:web'],
              points: [
                [t0, 3],
                [t0 + 60, 6],
              ],
            },
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
      assert.deepEqual(counted!.pointlist, [
        [t0 * 1000, 20],
        [(t0 + 10) * 1000, 15],
        [(t0 + 60) * 1000, 40],
      ]);
      assert.equal(counted!.expression, 'sum:compat.requests{role:web}.as_count()');
      assert.equal(counted!.scope, 'role:web');
      // .rollup(sum, 60) by host, negated and wildcard filters.
      const byHost = await query('sum:compat.requests{env:prod,!host:web-2,role:w*} by {host}.as_count().rollup(sum, 60)');
      assert.deepEqual(
        byHost.map((s) => [s.tagSet, s.interval, s.pointlist]),
        [
          [
            ['host:web-1'],
            60,
            [
              [t0 * 1000, 30],
              [(t0 + 60) * 1000, 30],
            ],
          ],
        ],
      );
      // Arithmetic between queries and with constants; comma-separated queries.
      const [ratio, scaled] = await query('sum:compat.errors{*} / sum:compat.requests{host:web-1}, avg:compat.errors{*} * 10');
      assert.deepEqual(ratio!.pointlist, [
        [t0 * 1000, 2],
        [(t0 + 60) * 1000, 2],
      ]);
      assert.equal(ratio!.queryIndex, 0);
      assert.deepEqual(scaled!.pointlist, [
        [t0 * 1000, 30],
        [(t0 + 60) * 1000, 60],
      ]);
      assert.equal(scaled!.queryIndex, 1);
      await expectApiException(api.queryMetrics({ from: window.from, to: window.to, query: 'sum:compat.requests{*}.bogus()' }), 400);
    });

    compatCase('http-v1-query-keys-in-query', async () => {
      const params = new URLSearchParams({
        from: String(window.from),
        to: String(window.to),
        query: 'max:compat.errors{*}',
        api_key: acme.apiSecret,
        application_key: acme.users.read_only.appSecret,
      });
      const response = await fetch(`${live.baseUrl}/api/v1/query?${params}`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { series: Array<{ pointlist: unknown }> };
      assert.deepEqual(body.series[0]!.pointlist, [
        [t0 * 1000, 3],
        [(t0 + 60) * 1000, 6],
      ]);
      // Not on v2: the headers only.
      const v2 = await fetch(
        `${live.baseUrl}/api/v2/api_keys?${new URLSearchParams({ api_key: acme.apiSecret, application_key: acme.users.admin.appSecret })}`,
      );
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
      assert.deepEqual(
        all.hostList!.map((h) => h.name),
        ['web-2', 'web-1', 'db-1'],
      );
      const web1 = await api.listHosts({ filter: 'host:web-1' });
      assert.deepEqual(
        web1.hostList!.map((h) => h.name),
        ['web-1'],
      );
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
      assert.deepEqual(
        (await api.listHosts({ filter: 'web', sortField: 'name', sortDir: 'asc' })).hostList!.map((h) => h.name),
        ['web-1', 'web-2'],
      );
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
      const api = new v1.MetricsApi(config);
      // 1…1000 ms on web-1 in two payloads (deflated, as the client compresses) in one 10 s
      // bucket, so the second is merged into the first; 5000 on db-1.
      const web = Array.from({ length: 1000 }, (_, i) => i + 1);
      const first = await api.submitDistributionPoints({
        contentEncoding: 'deflate',
        body: { series: [{ metric: 'compat.latency', type: 'distribution', host: 'web-1', tags: ['env:prod'], points: [[t0, web.slice(0, 600)]] }] },
      });
      assertParsed(first);
      assert.equal(first.status, 'ok');
      const second = await api.submitDistributionPoints({
        body: {
          series: [
            { metric: 'compat.latency', host: 'web-1', tags: ['env:prod'], points: [[t0 + 5, web.slice(600)]] },
            { metric: 'compat.latency', host: 'db-1', tags: ['env:dev'], points: [[t0 + 3, [5000, 5000]]] },
            // Outside Datadog's window: this series is refused and named, the others kept.
            { metric: 'compat.latency', host: 'web-1', points: [[t0 - 7200, [1]]] },
          ],
        },
      });
      assertParsed(second);
      assert.equal(second.status, 'ok');
      assert.match(JSON.stringify(second.additionalProperties?.errors), /series\[2\]\.points\[0\] timestamp .* in the past/);
      // A payload the client would not build (its model refuses a string value): 400 naming it.
      const bad = await fetch(`${live.baseUrl}/api/v1/distribution_points`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'dd-api-key': acme.apiSecret },
        body: JSON.stringify({ series: [{ metric: 'compat.latency', points: [[t0, ['fast']]] }] }),
      });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(await bad.json()), /series\[0\]\.points\[0\] values must be finite numbers/);

      const read = async (query: string) => {
        const response = await api.queryMetrics({ from: window.from, to: window.to, query });
        assertParsed(response);
        return response.series!;
      };
      const one = async (query: string) => {
        const series = await read(query);
        assert.equal(series.length, 1, query);
        assert.equal(series[0]!.pointlist!.length, 1, `${query}: one 10 s bucket`);
        assert.equal(series[0]!.pointlist![0]![0], t0 * 1000);
        return series[0]!.pointlist![0]![1]!;
      };
      // DDSketch's guarantee: within 1 % of the value at the quantile's rank.
      for (const [aggregator, q] of [
        ['p50', 0.5],
        ['p75', 0.75],
        ['p90', 0.9],
        ['p95', 0.95],
        ['p99', 0.99],
      ] as const) {
        const exact = web[Math.round(q * (web.length - 1))]!;
        const got = await one(`${aggregator}:compat.latency{env:prod}`);
        assert.ok(Math.abs(got - exact) / exact <= 0.01, `${aggregator}: ${got} within 1 % of ${exact}`);
      }
      assert.equal(await one('count:compat.latency{host:web-1}'), 1000);
      assert.equal(await one('avg:compat.latency{env:prod}'), 500.5);
      assert.equal(await one('max:compat.latency{env:prod}'), 1000);
      assert.equal(await one('min:compat.latency{env:prod}'), 1);
      assert.equal(await one('count:compat.latency{*}'), 1002);
      const byHost = await read('max:compat.latency{*} by {host}');
      assert.deepEqual(
        byHost.map((s) => [s.tagSet, s.pointlist]),
        [
          [['host:db-1'], [[t0 * 1000, 5000]]],
          [['host:web-1'], [[t0 * 1000, 1000]]],
        ],
      );
    });

    compatCase('official-v1-get-metric-metadata', async () => {
      const api = new v1.MetricsApi(config);
      // A v2 series declaring its unit, as the Agent does.
      const submitted = await new v2.MetricsApi(config).submitMetrics({
        body: { series: [{ metric: 'compat.bytes', type: 0, unit: 'byte', points: [{ timestamp: t0, value: 512 }] }] },
      });
      assertParsed(submitted);
      const bytes = await api.getMetricMetadata({ metricName: 'compat.bytes' });
      assertParsed(bytes);
      assert.deepEqual([bytes.type, bytes.unit], ['gauge', 'byte']);
      assert.deepEqual(
        [bytes.description, bytes.perUnit, bytes.shortName, bytes.statsdInterval].map((v) => v ?? null),
        [null, null, null, null],
        'nothing set yet',
      );
      assert.equal((await api.getMetricMetadata({ metricName: 'compat.requests' })).type, 'rate', 'the type the series were stored as');
      assert.equal((await api.getMetricMetadata({ metricName: 'compat.latency' })).type, 'distribution');
      await expectApiException(api.getMetricMetadata({ metricName: 'compat.never-sent' }), 404);
    });

    compatCase('official-v1-update-metric-metadata', async () => {
      const api = new v1.MetricsApi(config);
      const updated = await api.updateMetricMetadata({
        metricName: 'compat.latency',
        body: { type: 'distribution', unit: 'millisecond', perUnit: 'request', shortName: 'latency', description: 'Request latency', statsdInterval: 10 },
      });
      assertParsed(updated);
      assert.deepEqual(
        [updated.type, updated.unit, updated.perUnit, updated.shortName, updated.description, updated.statsdInterval],
        ['distribution', 'millisecond', 'request', 'latency', 'Request latency', 10],
      );
      // Fields left out stay as they are; a GET reads back what the PUT set.
      const described = await api.updateMetricMetadata({ metricName: 'compat.latency', body: { description: 'p95 matters' } });
      assert.deepEqual([described.unit, described.description], ['millisecond', 'p95 matters']);
      const read = await api.getMetricMetadata({ metricName: 'compat.latency' });
      assertParsed(read);
      assert.deepEqual(
        [read.unit, read.perUnit, read.shortName, read.statsdInterval, read.description],
        ['millisecond', 'request', 'latency', 10, 'p95 matters'],
      );
      // The difference: any unit name is kept; type is one of gauge, rate, count, distribution.
      assert.equal((await api.updateMetricMetadata({ metricName: 'compat.errors', body: { unit: 'widget' } })).unit, 'widget');
      await expectApiException(api.updateMetricMetadata({ metricName: 'compat.errors', body: { type: 'histogram' } }), 400);
      await expectApiException(api.updateMetricMetadata({ metricName: 'compat.never-sent', body: { description: 'x' } }), 404);
      // Editing needs metrics_metadata_write: not read_only's.
      const readOnly = new v1.MetricsApi(clientConfiguration(live.baseUrl, acme.apiSecret, acme.users.read_only.appSecret));
      await expectApiException(readOnly.updateMetricMetadata({ metricName: 'compat.errors', body: { description: 'x' } }), 403);
      assertParsed(await readOnly.getMetricMetadata({ metricName: 'compat.errors' }));
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
      assert.equal(created.data!.attributes!.remoteConfigReadEnabled, true);
      const id = created.data!.id!;
      const fetched = await api.getAPIKey({ apiKeyId: id });
      assertParsed(fetched);
      assert.equal(fetched.data!.attributes!.remoteConfigReadEnabled, true);
      const names = async (filterRemoteConfigReadEnabled: boolean) => {
        const listed = await api.listAPIKeys({ filterRemoteConfigReadEnabled });
        assertParsed(listed);
        return listed.data!.map((k) => k.attributes!.name);
      };
      assert.deepEqual(await names(true), ['rc']);
      assert.ok(!(await names(false)).includes('rc'));
      const updated = await api.updateAPIKey({
        apiKeyId: id,
        body: { data: { type: 'api_keys', id, attributes: { name: 'rc', remoteConfigReadEnabled: false } } },
      });
      assertParsed(updated);
      assert.equal(updated.data!.attributes!.remoteConfigReadEnabled, false);
      assert.deepEqual(await names(true), []);
      // Not given on an update: left as it is.
      await api.updateAPIKey({ apiKeyId: id, body: { data: { type: 'api_keys', id, attributes: { name: 'rc', remoteConfigReadEnabled: true } } } });
      const renamed = await api.updateAPIKey({ apiKeyId: id, body: { data: { type: 'api_keys', id, attributes: { name: 'rc2' } } } });
      assert.equal(renamed.data!.attributes!.remoteConfigReadEnabled, true);
      await api.deleteAPIKey({ apiKeyId: id });
    });

    compatCase('official-v2-api-key-category', async () => {
      const api = new v2.KeyManagementApi(config);
      const plain = await api.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'plain' } } } });
      assertParsed(plain);
      assert.equal(plain.data!.attributes!.category, 'default', 'as Datadog shows a key nobody categorised');
      const ci = await api.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'ci', category: 'ci' } } } });
      assert.equal(ci.data!.attributes!.category, 'ci');
      const listed = await api.listAPIKeys({ filterCategory: 'ci' });
      assertParsed(listed);
      assert.deepEqual(
        listed.data!.map((k) => k.attributes!.name),
        ['ci'],
      );
      const id = plain.data!.id!;
      const moved = await api.updateAPIKey({ apiKeyId: id, body: { data: { type: 'api_keys', id, attributes: { name: 'plain', category: 'ci' } } } });
      assertParsed(moved);
      assert.deepEqual(
        (await api.listAPIKeys({ filterCategory: 'ci', sort: 'name' })).data!.map((k) => k.attributes!.name),
        ['ci', 'plain'],
      );
      // The difference: Datadog names no categories; any label of 1–100 characters is kept.
      await expectApiException(api.createAPIKey({ body: { data: { type: 'api_keys', attributes: { name: 'x', category: '' } } } }), 400);
      await api.deleteAPIKey({ apiKeyId: id });
      await api.deleteAPIKey({ apiKeyId: ci.data!.id! });
    });

    compatCase('official-v2-app-key-scopes', async () => {
      const api = new v2.KeyManagementApi(config);
      const scoped = await api.createCurrentUserApplicationKey({
        body: { data: { type: 'application_keys', attributes: { name: 'scoped', scopes: ['timeseries_query', 'hosts_read'] } } },
      });
      assertParsed(scoped);
      assert.deepEqual(scoped.data!.attributes!.scopes, ['timeseries_query', 'hosts_read']);
      const id = scoped.data!.id!;
      // A name that is no Datadog scope: 400 naming it and the scopes there are.
      const refused = await expectApiException(
        api.createCurrentUserApplicationKey({
          body: { data: { type: 'application_keys', attributes: { name: 'bad', scopes: ['hosts_read', 'timeseries_querry'] } } },
        }),
        400,
      );
      assert.match(refused, /Unknown application key scope \\"timeseries_querry\\"; use .*timeseries_query/);
      await expectApiException(
        api.updateCurrentUserApplicationKey({ appKeyId: id, body: { data: { type: 'application_keys', id, attributes: { scopes: ['admin'] } } } }),
        400,
      );
      // The difference: a Datadog scope for a product rekey does not serve is refused too.
      await expectApiException(
        api.createCurrentUserApplicationKey({ body: { data: { type: 'application_keys', attributes: { name: 'dash', scopes: ['dashboards_read'] } } } }),
        400,
      );
      await api.deleteCurrentUserApplicationKey({ appKeyId: id });
    });

    compatCase('zorkian-post-metrics', async () => {
      const outcome = await zorkian.call('PostMetrics', admin(), {
        json: [
          {
            metric: 'compat.go',
            type: 'gauge',
            host: 'go-1',
            tags: ['lang:go'],
            points: [
              [t0, 7],
              [t0 + 60, 9],
            ],
          },
        ],
      });
      assert.deepEqual(outcome, { ok: true, value: null });
    });

    compatCase('zorkian-query-metrics', async () => {
      const outcome = await zorkian.call<ZorkianSeries[]>('QueryMetrics', admin(), {
        ...window,
        query: 'avg:compat.go{lang:go} by {host}, sum:compat.go{*} + 1',
      });
      assert.equal(outcome.ok, true, outcome.error);
      assert.deepEqual(
        outcome.value.map((s) => [s.metric, s.scope, s.pointlist]),
        [
          [
            'compat.go',
            'lang:go,host:go-1',
            [
              [t0 * 1000, 7],
              [(t0 + 60) * 1000, 9],
            ],
          ],
          [
            'sum:compat.go{*} + 1',
            '*',
            [
              [t0 * 1000, 8],
              [(t0 + 60) * 1000, 10],
            ],
          ],
        ],
      );
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
      assert.deepEqual(outcome, { ok: true, value: ['compat.bytes', 'compat.errors', 'compat.go', 'compat.requests'] });
    });

    compatCase('zorkian-get-host-totals', async () => {
      const outcome = await zorkian.call<{ total_up: number; total_active: number }>('GetHostTotals', admin());
      assert.deepEqual(outcome, { ok: true, value: { total_up: 4, total_active: 4 } });
    });
  });
}
