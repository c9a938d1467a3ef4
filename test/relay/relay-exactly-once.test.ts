/**
 * Issue 19, "relay SIGKILLed mid-stream — every acknowledged payload arrives exactly once
 * upstream", measured on what the upstream STORES, with no mock in the data path: a rekey
 * server in relay mode forwards to a second rekey server in standalone mode (the "Datadog"),
 * through a proxy that alters no byte and counts how often the upstream accepted each body
 * (counting-proxy.ts). Senders behave as agents do: a payload without a 202 is sent again.
 *
 * Each stream has its relay SIGKILLed several times while it delivers; the first kill lands
 * exactly in the relay's one gap (the upstream has answered 2xx, the relay has not written its
 * mark), so at least one body is certainly sent twice. Then the upstream's `/api/v1/query`:
 *   - series (`/api/v2/series`, a gauge and a count): the stored points equal the acknowledged
 *     points exactly, per series count, sum and every (timestamp, value) — a re-sent point has
 *     the same series and timestamp and replaces itself (last write wins, as on Datadog):
 *     exactly once in effect;
 *   - distributions (`/api/v1/distribution_points`): every accepted copy of a body is counted
 *     (values merge into the bucket's sketch, as Datadog counts every value it is sent), so a
 *     re-sent body is counted twice: at-least-once, the extra bounded by the bodies re-sent.
 * docs/relay.md ("Exactly once in effect, and where it is at least once") gives the figures.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCountingProxy, sha256, type CountingProxy } from './counting-proxy.js';
import { eventually, post, restartNode, setUpstream, startNode, type RekeyNode } from './relay-support.js';

const SENDERS = 4;
/** The relay's delivery concurrency (delivery.ts): the most payloads a kill can catch in flight. */
const IN_FLIGHT_PER_ORG = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface QueriedSeries {
  scope: string;
  pointlist: Array<[number, number]>;
}

async function query(node: RekeyNode, text: string, from: number): Promise<QueriedSeries[]> {
  const url = `${node.server.url}/api/v1/query?from=${from}&to=${Math.floor(Date.now() / 1000) + 600}&query=${encodeURIComponent(text)}`;
  const response = await fetch(url, { headers: { 'dd-api-key': node.apiKey, 'dd-application-key': node.appKey } });
  if (response.status !== 200) throw new Error(`query ${text}: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { series: QueriedSeries[] }).series;
}

const total = (series: QueriedSeries[]) => series.reduce((sum, s) => sum + s.pointlist.reduce((a, p) => a + p[1], 0), 0);

async function spoolPayloads(node: RekeyNode): Promise<number> {
  const text = await (await fetch(`${node.server.url}/metrics`)).text();
  return Number(/^rekey_relay_spool_payloads (\d+)/m.exec(text)?.[1] ?? NaN);
}

describe('relay SIGKILLed mid-stream: what the upstream stores', { timeout: 240_000 }, () => {
  let upstream: RekeyNode;
  let relay: RekeyNode;
  let proxy: CountingProxy;
  const from = Math.floor(Date.now() / 1000) - 3500;

  before(async () => {
    [upstream, relay] = await Promise.all([startNode(), startNode()]);
    proxy = await startCountingProxy(upstream.server.url);
    await setUpstream(relay, proxy.url, upstream.apiKey);
    // Relay mode reaches the node within its poll interval (100 ms here): probe until a payload goes through the proxy.
    await eventually(async () => {
      await post(
        `${relay.server.url}/api/v2/series`,
        relay.apiKey,
        JSON.stringify({ series: [{ metric: 'relay.once.probe', type: 3, points: [{ timestamp: Math.floor(Date.now() / 1000), value: 1 }] }] }),
      );
      return proxy.requests > 0;
    }, 'relay mode in effect');
  });
  after(async () => {
    await Promise.all([relay.server.stop(), upstream.server.stop()]);
    await proxy.close();
  });

  /** As an agent does: the same body again until the relay answers 202 (it may be down, being restarted). */
  async function sendUntilAcknowledged(path: string, body: string): Promise<void> {
    for (;;) {
      try {
        const status = await post(`${relay.server.url}${path}`, relay.apiKey, body, {});
        if (status === 202) return;
      } catch {
        // The relay is down (killed): the payload was not acknowledged; the agent keeps it.
      }
      await sleep(50);
    }
  }

  /**
   * Sends `bodies` from SENDERS concurrent agents while SIGKILLing the relay `kills` times
   * (the first in the gap, the others when a share of the stream is acknowledged), then waits
   * until the relay's spool is empty and every body reached the upstream.
   */
  async function streamWithKills(path: string, bodies: string[], kills: number): Promise<void> {
    let next = 0;
    let acknowledged = 0;
    const senders = Array.from({ length: SENDERS }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        await sendUntilAcknowledged(path, body);
        acknowledged += 1;
      }
    });
    const killer = (async () => {
      for (let k = 1; k <= kills; k++) {
        await eventually(() => acknowledged >= Math.floor((bodies.length * k) / (kills + 1)), `${k}/${kills + 1} of the stream acknowledged`, 60_000);
        if (k === 1) {
          const held = proxy.holdNextAnswer();
          await held.answered; // the upstream stored it; the relay is waiting for the answer
          await relay.server.stop('SIGKILL');
          held.release();
        } else {
          await relay.server.stop('SIGKILL');
        }
        relay = await restartNode(relay);
      }
    })();
    await Promise.all([...senders, killer]);
    const hashes = bodies.map(sha256);
    await eventually(
      async () => (await spoolPayloads(relay)) === 0 && hashes.every((hash) => proxy.delivered.has(hash)),
      "the relay's spool empty and every body at the upstream",
      60_000,
    );
  }

  it('v2 series: the stored points equal the acknowledged points exactly, though bodies were sent twice', async () => {
    const payloads = 400;
    const base = Math.floor(Date.now() / 1000) - 3000;
    const expected = new Map<string, Map<number, number>>([
      ['stream:a', new Map()],
      ['stream:b', new Map()],
    ]);
    const bodies: string[] = [];
    for (let i = 0; i < payloads; i++) {
      const series = ['a', 'b'].map((stream, s) => {
        const points = [0, 1].map((k) => ({ timestamp: base + 2 * i + k, value: (2 * i + k + 1) * (s === 0 ? 1 : 0.5) }));
        for (const p of points) expected.get(`stream:${stream}`)!.set(p.timestamp, p.value);
        // stream:a a gauge, stream:b a count (as the Agent's flushed DogStatsD counters): a re-sent count replaces itself too.
        const kind = s === 0 ? { type: 3 } : { type: 1, interval: 10 };
        return { metric: 'relay.once.series', ...kind, points, tags: [`stream:${stream}`], resources: [{ name: 'once-host', type: 'host' }] };
      });
      bodies.push(JSON.stringify({ series }));
    }
    const repeatsBefore = proxy.repeats();
    await streamWithKills('/api/v2/series', bodies, 3);
    const repeats = proxy.repeats();
    const resent = repeats.extra - repeatsBefore.extra;

    const read = () => query(upstream, 'sum:relay.once.series{*} by {stream}', from);
    const expectedCount = 2 * 2 * payloads;
    // The upstream's intake journals before its 202 and stores in batches: wait for its flush.
    await eventually(async () => (await read()).reduce((n, s) => n + s.pointlist.length, 0) >= expectedCount, 'the points stored upstream', 30_000);
    await sleep(1000); // nothing more may arrive
    const stored = await read();
    for (const [scope, points] of expected) {
      const series = stored.find((s) => s.scope === scope);
      assert.ok(series, `${scope} stored upstream`);
      assert.equal(series.pointlist.length, points.size, `${scope}: one stored point per acknowledged point`);
      assert.equal(
        series.pointlist.reduce((a, p) => a + p[1], 0),
        [...points.values()].reduce((a, v) => a + v, 0),
        `${scope}: the sum of the stored values is the acknowledged sum`,
      );
      assert.deepEqual(new Map(series.pointlist.map(([ms, value]) => [ms / 1000, value])), points, `${scope}: every timestamp with its value`);
    }
    process.stdout.write(
      `# series: ${payloads} payloads acknowledged (${expectedCount} points), relay SIGKILLed 3 times; ${resent} bodies accepted upstream twice; stored ${stored.reduce((n, s) => n + s.pointlist.length, 0)} points, sum ${total(stored)}\n`,
    );
    assert.ok(resent >= 1, 'the kill in the gap made the relay send a body again');
  });

  it('distribution points: every accepted copy counts, so a re-sent body is counted twice — bounded by the bodies re-sent', async () => {
    const payloads = 200;
    const base = Math.floor(Date.now() / 1000) - 3000;
    const values = (i: number) => [i + 1, i + 2, i + 3];
    const bodies = Array.from({ length: payloads }, (_, i) =>
      JSON.stringify({
        series: [{ metric: 'relay.once.dist', host: 'once-host', tags: ['stream:d'], type: 'distribution', points: [[base + 10 * i, values(i)]] }],
      }),
    );
    const kills = 2;
    await streamWithKills('/api/v1/distribution_points', bodies, kills);

    // What the upstream must hold if it counts each accepted copy once: Σ copies × the body's values.
    let acceptedCount = 0;
    let acceptedSum = 0;
    let resent = 0;
    bodies.forEach((body, i) => {
      const copies = proxy.delivered.get(sha256(body)) ?? 0;
      resent += copies - 1;
      acceptedCount += copies * values(i).length;
      acceptedSum += copies * values(i).reduce((a, b) => a + b, 0);
    });
    const acknowledgedCount = payloads * 3;
    await eventually(async () => total(await query(upstream, 'count:relay.once.dist{*}', from)) >= acceptedCount, 'the values counted upstream', 30_000);
    await sleep(1000);
    const storedCount = total(await query(upstream, 'count:relay.once.dist{*}', from));
    const storedSum = total(await query(upstream, 'sum:relay.once.dist{*}', from));
    process.stdout.write(
      `# distributions: ${payloads} payloads acknowledged (${acknowledgedCount} values), relay SIGKILLed ${kills} times; ${resent} bodies accepted upstream twice; stored count ${storedCount} (${storedCount - acknowledgedCount} counted twice)\n`,
    );
    assert.equal(storedCount, acceptedCount, 'every copy the upstream accepted is counted once: a re-sent body counts twice');
    assert.equal(storedSum, acceptedSum);
    assert.ok(resent >= 1, 'the kill in the gap made the relay send a body again, and the upstream counted it again');
    assert.ok(storedCount > acknowledgedCount, 'distribution values are at-least-once through a relay killed mid-stream');
    // The bound: per kill, the payloads in flight (delivery concurrency) plus each sender's payload
    // spooled but not yet acknowledged when the relay died (the agent sends it again).
    assert.ok(resent <= kills * (IN_FLIGHT_PER_ORG + SENDERS), `${resent} bodies re-sent; at most ${kills * (IN_FLIGHT_PER_ORG + SENDERS)} may be`);
  });
});
