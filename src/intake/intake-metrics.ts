/**
 * The intake's Prometheus metrics, on the server's registry (`/metrics`):
 *
 * - `rekey_intake_points_total`: points accepted — committed, then answered 202;
 * - `rekey_intake_batches_total{result}` and `rekey_intake_batch_commit_seconds`: the point
 *   writer's group commits (how many, how long), `result` ok or error;
 * - `rekey_intake_refused_total{reason}`: requests refused 403 by key verification
 *   (missing, malformed, unknown, revoked, expired).
 *
 * Each is one counter increment or histogram observation in memory: nothing on the request
 * path waits for them. Without a registry (a plugin used on its own) they are no-ops.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface IntakeMetrics {
  accepted(points: number): void;
  batch(batch: { points: number; seconds: number; ok: boolean }): void;
  refused(reason: string): void;
}

export function createIntakeMetrics(registry: Registry | undefined): IntakeMetrics {
  if (registry === undefined) return { accepted() {}, batch() {}, refused() {} };
  const points = new Counter({ name: 'rekey_intake_points_total', help: 'Metric points accepted by the intake (committed)', registers: [registry] });
  const batches = new Counter({
    name: 'rekey_intake_batches_total',
    help: 'Group commits of the intake point writer by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const commitSeconds = new Histogram({
    name: 'rekey_intake_batch_commit_seconds',
    help: 'Time to write and commit one batch of points',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'rekey_intake_refused_total',
    help: 'Intake requests refused (403) by API key verification, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return {
    accepted: (count) => points.inc(count),
    batch: ({ seconds, ok }) => {
      batches.inc({ result: ok ? 'ok' : 'error' });
      if (ok) commitSeconds.observe(seconds);
    },
    refused: (reason) => refused.inc({ reason }),
  };
}
