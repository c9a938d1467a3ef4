/**
 * Revocation propagation across 3 `rekey server` nodes on one PostgreSQL: for each of N
 * revocations (default 200), a fresh key is cached as active on every node, revoked through
 * node A (`DELETE /api/v2/api_keys/{id}`), and each node is polled tightly from the moment the
 * revoke's response arrives until it answers 403. The polls carry an empty series: a node that
 * still accepts the key answers 400 after verifying it, without a database write, so a poll
 * costs one round trip of verification and the sampling is as fine as the nodes allow. Reports p50/p99 per node and for the remote
 * nodes (B, C) together. Goal: p99 ≤ 50 ms (docs/product.md §5). Baseline, same run: the round
 * trip of an accepted intake request to the same nodes (the floor of any measurement here).
 *
 * Usage: node --import tsx bench/revocation-propagation.ts [--revocations 200]
 * PostgreSQL: REKEY_TEST_DATABASE_URL, else an embedded server (test/support/postgres.ts).
 * Writes bench/results/revocation-propagation.json.
 */
import { parseArgs } from 'node:util';
import { onePointBody, startIntakeCluster } from '../test/intake/intake-cluster.js';
import { percentile, writeResult } from './intake-bench-support.js';

const { values } = parseArgs({ options: { revocations: { type: 'string', default: '200' } } });
const revocations = Number(values.revocations);
const POLL_LIMIT_MS = 6000;

const cluster = await startIntakeCluster(3);
const names = ['A', 'B', 'C'];
const samples: Record<string, number[]> = { A: [], B: [], C: [] };
const baseline: number[] = [];
/** Round trip of a poll that is refused for its empty series (key still valid): the sampling floor. */
const pollFloor: number[] = [];
let neverRevoked = 0;

const send = async (url: string, key: string, body = onePointBody()): Promise<number> => {
  const response = await fetch(`${url}/api/v2/series`, {
    method: 'POST',
    headers: { 'DD-API-KEY': key, 'Content-Type': 'application/json' },
    body,
  });
  await response.arrayBuffer();
  return response.status;
};

try {
  const [a] = cluster.urls as [string, string, string];
  for (let i = 0; i < revocations; i++) {
    const { key, id } = await cluster.newApiKey();
    for (const url of cluster.urls) {
      const started = performance.now();
      const status = await send(url, key);
      baseline.push(performance.now() - started);
      if (status !== 202) throw new Error(`priming ${url} answered ${status}`);
      const pollStarted = performance.now();
      if ((await send(url, key, '{"series":[]}')) !== 400) throw new Error('a poll with a valid key must answer 400');
      pollFloor.push(performance.now() - pollStarted);
    }
    const revoke = await fetch(`${a}/api/v2/api_keys/${id}`, {
      method: 'DELETE',
      headers: { 'DD-API-KEY': cluster.apiKey, 'DD-APPLICATION-KEY': cluster.appKey },
    });
    await revoke.arrayBuffer();
    if (revoke.status >= 300) throw new Error(`revoke answered ${revoke.status}`);
    const revokedAt = performance.now();
    await Promise.all(
      cluster.urls.map(async (url, n) => {
        for (;;) {
          const status = await send(url, key, '{"series":[]}');
          const elapsed = performance.now() - revokedAt;
          if (status === 403) {
            samples[names[n]!]!.push(elapsed);
            return;
          }
          if (elapsed > POLL_LIMIT_MS) {
            neverRevoked += 1;
            samples[names[n]!]!.push(elapsed);
            return;
          }
        }
      }),
    );
  }
} finally {
  await cluster.stop();
}

const summary = (xs: number[]) => ({
  n: xs.length,
  p50_ms: Number(percentile(xs, 0.5).toFixed(2)),
  p99_ms: Number(percentile(xs, 0.99).toFixed(2)),
  max_ms: Number(Math.max(...xs).toFixed(2)),
});
const remote = [...samples.B!, ...samples.C!];
const remoteP99 = percentile(remote, 0.99);
const baselineP50 = percentile(baseline, 0.5);
writeResult('revocation-propagation', {
  benchmark: 'revocation-propagation',
  at: new Date().toISOString(),
  config: { nodes: 3, revocations, store: 'PostgreSQL (LISTEN/NOTIFY)', measured: 'revoke response on A → first 403 on each node, tight sequential polling' },
  node_A_revoking: summary(samples.A!),
  node_B: summary(samples.B!),
  node_C: summary(samples.C!),
  remote_nodes_B_and_C: summary(remote),
  baseline_accepted_request_round_trip: summary(baseline),
  baseline_poll_round_trip_key_valid: summary(pollFloor),
  ratio_remote_p99_to_goal_50ms: Number((remoteP99 / 50).toFixed(4)),
  ratio_remote_p50_to_accepted_request_p50: Number((percentile(remote, 0.5) / baselineP50).toFixed(3)),
  ratio_remote_p99_to_revoking_node_p99: Number((remoteP99 / percentile(samples.A!, 0.99)).toFixed(3)),
  goal: 'p99 ≤ 50 ms on every node',
  goal_met: Math.max(percentile(samples.A!, 0.99), remoteP99) <= 50 && neverRevoked === 0,
  polls_that_hit_the_limit: neverRevoked,
});
