/**
 * The intake's Prometheus metrics, on the server's registry (`/metrics`):
 *
 * - `rekey_intake_points_total`: points accepted — durable (journaled or committed), then answered 202;
 * - `rekey_intake_batches_total{result}` and `rekey_intake_batch_commit_seconds`: the point
 *   writer's group commits — journal appends when there is a journal — (how many, how long),
 *   `result` ok or error;
 * - `rekey_intake_unsaved_points` and `rekey_intake_save_failures_total`: with a journal, the
 *   points acknowledged but not yet saved into the database, and the failed saves;
 * - `rekey_intake_refused_total{reason}`: requests refused 403 by key verification
 *   (missing, malformed, unknown, revoked, expired) or 429 by the abuse limits
 *   (rate_limited_address, rate_limited_key, refused_payloads, unknown_keys_throttled; relay mode:
 *   counting_backlog, src/relay/counting-queue.ts).
 *
 * Each is one counter increment or histogram observation in memory: nothing on the request
 * path waits for them. Without a registry (a plugin used on its own) they are no-ops.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IntakeMetrics {
  accepted(points: number): void;
  batch(batch: { points: number; seconds: number; ok: boolean }): void;
  refused(reason: string): void;
  saveFailed(): void;
  /** Reports `read()` as the unsaved-points gauge at every scrape. */
  watchUnsaved(read: () => number): void;
}

export function createIntakeMetrics(registry: Registry | undefined): IntakeMetrics {
  if (registry === undefined) return { accepted() {}, batch() {}, refused() {}, saveFailed() {}, watchUnsaved() {} };
  const points = new Counter({
    name: 'rekey_intake_points_total',
    help: 'Metric points accepted by the intake (journaled or committed)',
    registers: [registry],
  });
  const batches = new Counter({
    name: 'rekey_intake_batches_total',
    help: 'Group commits (journal appends, with a journal) of the intake point writer by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const commitSeconds = new Histogram({
    name: 'rekey_intake_batch_commit_seconds',
    help: 'Time to make one batch of points durable (journal append or commit)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'rekey_intake_refused_total',
    help: 'Intake requests refused: 403 by API key verification, 429 by the abuse limits; by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const saveFailures = new Counter({
    name: 'rekey_intake_save_failures_total',
    help: 'Failed saves of journaled points into the database (retried)',
    registers: [registry],
  });
  let readUnsaved = () => 0;
  new Gauge({
    name: 'rekey_intake_unsaved_points',
    help: 'Points acknowledged from the intake journal and not yet saved into the database',
    registers: [registry],
    collect() {
      this.set(readUnsaved());
    },
  });
  return {
    saveFailed: () => saveFailures.inc(),
    watchUnsaved: (read) => {
      readUnsaved = read;
    },
    accepted: (count) => points.inc(count),
    batch: ({ seconds, ok }) => {
      batches.inc({ result: ok ? 'ok' : 'error' });
      if (ok) commitSeconds.observe(seconds);
    },
    refused: (reason) => refused.inc({ reason }),
  };
}
