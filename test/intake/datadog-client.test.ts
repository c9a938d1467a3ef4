/**
 * The official Datadog client talks to the intake as it talks to Datadog: points submitted
 * with v1 and v2 `MetricsApi.submitMetrics` (plain, gzip, deflate, zstd) are read back
 * exactly with v1 `queryMetrics`; hosts appear in `HostsApi.listHosts`; an Agent 7 protobuf
 * payload is stored; a payload sent twice is stored once. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import { MetricPayloadType } from '../../src/intake/metric-payload-proto.js';
import { DIALECTS } from '../support/dialects.js';
import { createIntakeFixture, type IntakeFixture } from './intake-fixture.js';
import { zstdRawFrame } from './zstd-frames.js';

for (const dialect of DIALECTS) {
  describe(`intake with the official Datadog client on ${dialect.name}`, () => {
    let f: IntakeFixture;
    let configuration: client.Configuration;
    const now = Math.floor(Date.now() / 1000);

    before(async () => {
      f = await createIntakeFixture(dialect);
      await f.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = f.app.server.address() as AddressInfo;
      configuration = client.createConfiguration({
        authMethods: { apiKeyAuth: f.apiKey, appKeyAuth: f.appKey },
        baseServer: new client.BaseServerConfiguration(`http://127.0.0.1:${port}`, {}),
        zstdCompressorCallback: (body: string) => zstdRawFrame(Buffer.from(body)),
        enableRetry: false,
      });
    });
    after(() => f.close());

    async function query(q: string, from = now - 3600, to = now + 60) {
      return new v1.MetricsApi(configuration).queryMetrics({ from, to, query: q });
    }

    it('v2 submitMetrics (plain, gzip, deflate, zstd1) reads back exactly through v1 queryMetrics', async () => {
      const api = new v2.MetricsApi(configuration);
      const encodings = [undefined, 'gzip', 'deflate', 'zstd1'] as const;
      for (const [i, encoding] of encodings.entries()) {
        const points = [0, 1, 2].map((k) => ({ timestamp: now - 100 + k * 10, value: i * 10 + k + 0.25 }));
        const accepted = await api.submitMetrics({
          body: {
            series: [
              {
                metric: `client.v2.${encoding ?? 'plain'}`,
                type: 3,
                points,
                resources: [{ name: 'web-1', type: 'host' }],
                tags: ['env:test', 'role:web'],
              },
            ],
          },
          ...(encoding ? { contentEncoding: encoding } : {}),
        });
        assert.deepEqual(accepted.errors, []);
        const result = await query(`avg:client.v2.${encoding ?? 'plain'}{env:test}`);
        assert.equal(result.status, 'ok');
        assert.equal(result.series?.length, 1);
        assert.deepEqual(
          result.series![0]!.pointlist,
          points.map((p) => [p.timestamp * 1000, p.value]),
        );
      }
    });

    it('v1 submitMetrics (plain and compressed) reads back exactly, grouped by host', async () => {
      const api = new v1.MetricsApi(configuration);
      for (const encoding of [undefined, 'gzip', 'deflate'] as const) {
        const metric = `client.v1.${encoding ?? 'plain'}`;
        const accepted = await api.submitMetrics({
          body: {
            series: [
              {
                metric,
                points: [
                  [now - 50, 1.5],
                  [now - 40, 2.5],
                ],
                host: 'db-1',
                tags: ['env:test'],
                type: 'gauge',
              },
              { metric, points: [[now - 50, 3.5]], host: 'db-2', tags: ['env:test'], type: 'gauge' },
            ],
          },
          ...(encoding ? { contentEncoding: encoding } : {}),
        });
        assert.equal(accepted.status, 'ok');
        const byHost = await query(`max:${metric}{*} by {host}`);
        assert.deepEqual(
          byHost.series!.map((s) => [s.tagSet, s.pointlist]),
          [
            [
              ['host:db-1'],
              [
                [(now - 50) * 1000, 1.5],
                [(now - 40) * 1000, 2.5],
              ],
            ],
            [['host:db-2'], [[(now - 50) * 1000, 3.5]]],
          ],
        );
        const summed = await query(`sum:${metric}{env:test}`);
        assert.deepEqual(summed.series![0]!.pointlist, [
          [(now - 50) * 1000, 5],
          [(now - 40) * 1000, 2.5],
        ]);
        const none = await query(`sum:${metric}{env:prod}`);
        assert.deepEqual(none.series, []);
      }
    });

    it('a payload sent twice is stored once; a changed value overwrites (last write wins)', async () => {
      const api = new v2.MetricsApi(configuration);
      const body = { series: [{ metric: 'client.dedup', type: 1 as const, points: [{ timestamp: now - 30, value: 7 }], tags: ['b:2', 'a:1'] }] };
      await api.submitMetrics({ body });
      await api.submitMetrics({ body, contentEncoding: 'gzip' });
      // same tags in another order are the same series
      await api.submitMetrics({ body: { series: [{ ...body.series[0]!, tags: ['a:1', 'b:2', 'a:1'] }] } });
      let result = await query('sum:client.dedup{*}');
      assert.deepEqual(result.series![0]!.pointlist, [[(now - 30) * 1000, 7]]);
      await api.submitMetrics({ body: { series: [{ ...body.series[0]!, points: [{ timestamp: now - 30, value: 9 }] }] } });
      result = await query('sum:client.dedup{*}');
      assert.deepEqual(result.series![0]!.pointlist, [[(now - 30) * 1000, 9]]);
    });

    it('an Agent 7 protobuf MetricPayload (field numbers of docs/product.md §3) is accepted and stored', async () => {
      const bytes = MetricPayloadType.encode(
        MetricPayloadType.fromObject({
          series: [
            {
              resources: [{ type: 'host', name: 'proto-host' }],
              metric: 'proto.metric',
              tags: ['env:proto'],
              points: [
                { value: 42.5, timestamp: now - 20 },
                { value: -1, timestamp: now - 10 },
              ],
              type: 3,
              unit: 'byte',
              source_type_name: 'System',
              interval: 10,
            },
          ],
        }),
      ).finish();
      const { port } = f.app.server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/api/v2/series`, {
        method: 'POST',
        headers: { 'DD-API-KEY': f.apiKey, 'Content-Type': 'application/x-protobuf' },
        body: bytes,
      });
      assert.equal(response.status, 202);
      assert.deepEqual(await response.json(), { errors: [] });
      const result = await query('avg:proto.metric{host:proto-host}');
      assert.deepEqual(result.series![0]!.pointlist, [
        [(now - 20) * 1000, 42.5],
        [(now - 10) * 1000, -1],
      ]);
    });

    it('HostsApi.listHosts lists the hosts that sent data, with agent metadata', async () => {
      const { port } = f.app.server.address() as AddressInfo;
      const meta = await fetch(`http://127.0.0.1:${port}/intake/`, {
        method: 'POST',
        headers: { 'DD-API-KEY': f.apiKey, 'Content-Type': 'application/json' },
        // As the Datadog Agent sends it: its own API key inside the document.
        body: JSON.stringify({ apiKey: f.apiKey, internalHostname: 'web-1', agentVersion: '7.50.0', meta: { hostname: 'web-1', api_key: f.apiKey } }),
      });
      assert.equal(meta.status, 202);
      const hosts = await new v1.HostsApi(configuration).listHosts({});
      const names = hosts.hostList!.map((h) => h.name).sort();
      assert.ok(
        ['web-1', 'db-1', 'db-2', 'proto-host'].every((n) => names.includes(n)),
        names.join(','),
      );
      const web = hosts.hostList!.find((h) => h.name === 'web-1')!;
      assert.equal(web.meta?.agentVersion, '7.50.0');
      const stored = await f.store.sharedTables().db.selectFrom('intake_hosts').select('metadata').where('host', '=', 'web-1').executeTakeFirstOrThrow();
      assert.match(String(stored.metadata), /"internalHostname":"web-1"/, 'the document is kept');
      assert.ok(!String(stored.metadata).includes(f.apiKey), 'but not the API key inside it');
      assert.ok(!JSON.stringify(hosts).includes(f.apiKey));
      assert.equal(web.up, true);
      assert.equal(hosts.totalReturned, names.length);
      const filtered = await new v1.HostsApi(configuration).listHosts({ filter: 'db-' });
      assert.deepEqual(
        filtered.hostList!.map((h) => h.name),
        ['db-1', 'db-2'],
      );
    });

    it('query and hosts need both management keys', async () => {
      const bad = client.createConfiguration({
        authMethods: { apiKeyAuth: f.apiKey },
        baseServer: configuration.baseServer!,
        enableRetry: false,
      });
      await assert.rejects(
        new v1.MetricsApi(bad).queryMetrics({ from: now - 10, to: now, query: 'avg:x{*}' }),
        (error: { code?: number }) => error.code === 403,
      );
      await assert.rejects(new v1.HostsApi(bad).listHosts({}), (error: { code?: number }) => error.code === 403);
    });
  });
}
