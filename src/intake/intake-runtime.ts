/**
 * What the intake runs besides its routes, with one start/stop lifecycle: the point writer
 * (and its journal, recovered at start), the API-key verifier, the key-usage aggregator, the
 * host sightings and the retention sweep — plus the settings its routes read.
 *
 * Reads go through here too (`queryPoints`, `listHosts`): a client reads back every point and
 * host it was acknowledged, so journaled points are saved and sightings flushed first.
 *
 * @example
 *   const runtime = new IntakeRuntime({ store, hasher }, app.log);
 *   await runtime.start();
 *   …
 *   await runtime.close();
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { KeyHasher } from '../keys/key-hasher.js';
import { KyselyPointStore } from '../points/kysely-point-store.js';
import { MetricUnits } from '../points/metric-units.js';
import { SketchStore } from '../points/sketch-store.js';
import { EventStore } from './event-store.js';
import { PointJournal } from '../points/point-journal.js';
import type { HostQuery, PointQuery, PointSeries, PointStore, StoredHost, StoredPoint } from '../points/point-store.js';
import { PointWriter } from '../points/point-writer.js';
import type { Store } from '../store/store.js';
import { ApiKeyVerifier } from './api-key-verifier.js';
import { HostSightings } from './host-sightings.js';
import { createIntakeMetrics, type IntakeMetrics } from './intake-metrics.js';
import { V1_LIMITS, V2_LIMITS, type IntakeLimits } from './intake-limits.js';
import { DEFAULT_INTAKE_RATE_LIMITS, type IntakeRateLimits } from './intake-rate-limits.js';
import { DEFAULT_PAYLOAD_CAPS, type PayloadCaps } from './payload-caps.js';
import { DEFAULT_TIMESTAMP_WINDOW, type TimestampWindow } from './series-payload.js';
import type { IntakeRelay } from './intake-relay.js';
import { CountingQueue } from '../relay/counting-queue.js';
import { CountingThread } from '../relay/counting-thread.js';
import { UsageAggregator } from './usage-aggregator.js';
import { KeyLimits } from './key-limits.js';
import { KeyUsageMinutes } from './usage-minutes.js';

/** Point batches committed at once on PostgreSQL (of the pool's 10 connections; bench/intake-shipped-server-postgres.ts). */
const POSTGRES_CONCURRENT_BATCHES = 4;

export interface IntakeOptions {
  store: Store;
  hasher: KeyHasher;
  /** Default: KyselyPointStore over `store.sharedTables()`. */
  pointStore?: PointStore;
  limits?: { v1?: IntakeLimits; v2?: IntakeLimits };
  /** Work caps per payload: series, points, tags, JSON values (payload-caps.ts); each defaults. */
  payloadCaps?: Partial<PayloadCaps>;
  /**
   * Request rate limits, per node (429 with Retry-After beyond them); each defaults
   * (DEFAULT_INTAKE_RATE_LIMITS). `unknownKeysPerAddress` limits the database lookups for
   * well-formed keys that turn out not to exist, per client address (key guessing).
   */
  rateLimits?: Partial<IntakeRateLimits>;
  /** Key-usage flush interval (default 1000 ms: at most one usage write per second). */
  usageFlushIntervalMs?: number;
  /** How often finished usage minutes are written (default 60 s; usage-minutes.ts). */
  usageMinutesFlushIntervalMs?: number;
  /** How often the per-key limits are re-read (default 2000 ms; key-limits.ts). */
  keyLimitsPollMs?: number;
  /**
   * Journal accepted batches in this directory and save them into the database about once a
   * second (point-journal.ts says why and what it guarantees); the server uses
   * `<data>/intake-journal` with SQLite. Without it, each batch is committed before its 202.
   */
  journalDir?: string;
  /** With a journal: how often batches are saved into the database (default 1000 ms). */
  journalSaveIntervalMs?: number;
  /**
   * With a journal: `process` (default) acknowledges a batch once it is written to the journal
   * (survives a crash of the process); `power` once it is also fdatasync()ed (survives a power
   * cut). docs/operations.md#durability.
   */
  durability?: 'process' | 'power';
  /** Point batches: extra wait when idle (default 0) and the largest batch. */
  pointFlushDelayMs?: number;
  maxBatchPoints?: number;
  /** Points (and key usage minutes) older than this are deleted (default 7 days), swept every `sweepIntervalMs` (default 1 h). */
  retentionSeconds?: number;
  sweepIntervalMs?: number;
  /** Accepted timestamps; default 10 min ahead, `retentionSeconds` back (series-payload.ts). */
  timestampWindow?: Partial<TimestampWindow>;
  /** Verifier cache lifetime, ≤ 5000 ms. */
  cacheTtlMs?: number;
  /** Where the intake's Prometheus metrics go (intake-metrics.ts); the server passes its registry. */
  metricsRegistry?: Registry;
  /** `/api/v1/query` refuses a time range holding more stored points than this (default 2,000,000). */
  maxQueryPoints?: number;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
  /** Relay mode (intake-relay.ts, src/relay/relay.ts): relay-mode organisations' payloads are forwarded, not stored. */
  relay?: IntakeRelay;
}

export class IntakeRuntime {
  readonly store: Store;
  readonly now: () => number;
  readonly limitsV1: IntakeLimits;
  readonly limitsV2: IntakeLimits;
  readonly caps: PayloadCaps;
  readonly rateLimits: IntakeRateLimits;
  readonly window: TimestampWindow;
  readonly metrics: IntakeMetrics;
  readonly pointStore: PointStore;
  readonly writer: PointWriter;
  readonly verifier: ApiKeyVerifier;
  readonly usage: UsageAggregator;
  /** Per-key usage per minute: requests, bytes, points, hosts (usage-minutes.ts). */
  readonly usageMinutes: KeyUsageMinutes;
  /** The optional per-key limits, checked from memory (key-limits.ts). */
  readonly keyLimits: KeyLimits;
  readonly sightings: HostSightings;
  /** Events (POST /api/v1/events, the Agent's /intake/ events) and distribution sketches (/api/beta/sketches). */
  readonly events: EventStore;
  readonly sketches: SketchStore;
  readonly relay: IntakeRelay | undefined;
  /** Relay mode: large forwarded bodies wait for the counting worker one at a time, keys in turn (src/relay/counting-queue.ts). */
  readonly forwardedCounting = new CountingQueue();
  /** Relay mode: a forwarded body's points, a large one counted on a worker thread (src/relay/counting-thread.ts). */
  readonly forwardedCounter = new CountingThread(this.forwardedCounting);
  /** Metric units the series declare, for `series[].unit` in queries. */
  readonly units: MetricUnits;
  private readonly retentionSeconds: number;
  private readonly sweepIntervalMs: number;
  private readonly maxQueryPoints: number;
  /** What an earlier run left in the journal, read before this run's first journal file exists. */
  private readonly recovered: ReturnType<typeof PointJournal.recover> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    options: IntakeOptions,
    private readonly log: FastifyBaseLogger,
  ) {
    this.store = options.store;
    this.relay = options.relay;
    this.now = options.now ?? Date.now;
    this.maxQueryPoints = options.maxQueryPoints ?? 2_000_000;
    this.limitsV1 = options.limits?.v1 ?? V1_LIMITS;
    this.limitsV2 = options.limits?.v2 ?? V2_LIMITS;
    this.caps = { ...DEFAULT_PAYLOAD_CAPS, ...options.payloadCaps };
    this.rateLimits = { ...DEFAULT_INTAKE_RATE_LIMITS, ...options.rateLimits };
    this.retentionSeconds = options.retentionSeconds ?? 7 * 24 * 3600;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 3600_000;
    this.window = {
      futureSeconds: options.timestampWindow?.futureSeconds ?? DEFAULT_TIMESTAMP_WINDOW.futureSeconds,
      // Datadog's hour by default; never past the retention (such a point would be deleted at once).
      maxAgeSeconds: Math.min(options.timestampWindow?.maxAgeSeconds ?? DEFAULT_TIMESTAMP_WINDOW.maxAgeSeconds, this.retentionSeconds),
    };
    this.pointStore = options.pointStore ?? new KyselyPointStore(options.store.sharedTables());
    this.events = new EventStore(options.store.sharedTables());
    this.sketches = new SketchStore(options.store.sharedTables());
    this.units = new MetricUnits(options.store.sharedTables(), this.now);
    this.metrics = createIntakeMetrics(options.metricsRegistry);
    const metrics = this.metrics;
    this.recovered = options.journalDir === undefined ? undefined : PointJournal.recover(options.journalDir);
    const journal = options.journalDir === undefined ? undefined : PointJournal.open(options.journalDir, { sync: options.durability === 'power' });
    this.writer = new PointWriter(this.pointStore, {
      onBatch: metrics.batch,
      ...(journal === undefined ? {} : { journal }),
      ...(options.journalSaveIntervalMs === undefined ? {} : { saveIntervalMs: options.journalSaveIntervalMs }),
      onSaveError: (error) => {
        metrics.saveFailed();
        log.warn({ err: error }, 'intake journal: saving into the database failed; will retry');
      },
      ...(options.pointFlushDelayMs === undefined ? {} : { flushDelayMs: options.pointFlushDelayMs }),
      ...(options.maxBatchPoints === undefined ? {} : { maxBatchPoints: options.maxBatchPoints }),
      // PostgreSQL without a journal: commits wait on the log flush, several at once share it
      // (point-writer.ts). SQLite has one writer: batches there go one at a time.
      ...(journal === undefined && options.store.sharedTables().dialect === 'postgres' ? { maxConcurrentBatches: POSTGRES_CONCURRENT_BATCHES } : {}),
    });
    metrics.watchUnsaved(() => this.writer.unsavedPointCount);
    this.verifier = new ApiKeyVerifier(options.store, options.hasher, {
      ...(options.cacheTtlMs === undefined ? {} : { ttlMs: options.cacheTtlMs }),
      now: this.now,
    });
    this.usageMinutes = new KeyUsageMinutes(options.store, {
      now: this.now,
      ...(options.usageMinutesFlushIntervalMs === undefined ? {} : { flushIntervalMs: options.usageMinutesFlushIntervalMs }),
      onError: (error) => log.warn({ err: error }, 'key usage minutes could not be recorded; will retry'),
    });
    this.usage = new UsageAggregator(options.store, {
      intervalMs: options.usageFlushIntervalMs ?? 1000,
      now: this.now,
      minutes: this.usageMinutes,
      onError: (error) => log.warn({ err: error }, 'key usage could not be recorded; will retry'),
    });
    this.keyLimits = new KeyLimits(options.store, this.usageMinutes, {
      now: this.now,
      ...(options.keyLimitsPollMs === undefined ? {} : { pollMs: options.keyLimitsPollMs }),
      onError: (error) => log.warn({ err: error }, 'per-key limits could not be re-read; will retry'),
    });
    this.sightings = new HostSightings({
      write: (hosts) => this.writer.write({ hosts }),
      onError: (error) => log.warn({ err: error }, 'host sightings could not be recorded; will retry'),
    });
  }

  /** Saves what an earlier run journaled, then starts the verifier, the flushers and the sweep. */
  async start(): Promise<void> {
    const recovered = this.recovered;
    for (const { file, pid } of recovered?.liveWriters ?? []) {
      // Said at every start while it lasts: skipped in silence, such a file's points waited unseen.
      this.log.warn(
        { file, writerPid: pid },
        'intake journal: a file names a running process, so it is left to that process, unread; if that pid is not a rekey server on this data directory (a pid reused after a crash, a process of another container), the acknowledged points in it wait as long as that pid runs: rename the file with the prefix moved- and restart, and it is read as a file copied in by hand',
      );
    }
    if (recovered !== undefined && recovered.files.length > 0) {
      const { points, dropped, droppedPoints } = await this.writer.recover(recovered);
      this.log.info(
        { points, files: recovered.files.length, tornRecords: dropped, tornBytes: recovered.droppedBytes, tornRecordPoints: droppedPoints },
        'intake journal: points an earlier run acknowledged are saved',
      );
      // Torn records were never acknowledged (a 202 follows a whole append), but say what they held.
      if (dropped > 0)
        this.log.warn(
          { tornRecords: dropped, tornBytes: recovered.droppedBytes, tornRecordPoints: droppedPoints },
          'intake journal: skipped torn records (writes that failed or were cut short; never acknowledged)',
        );
    }
    await this.verifier.start();
    this.usage.start();
    this.usageMinutes.start();
    await this.keyLimits.start();
    this.sightings.start();
    this.sweepTimer = setInterval(() => void this.sweep(), this.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  /** Stops the sweep and saves what is pending: sightings, points (journal), key usage. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sightings.close().catch(() => {}); // a failure was reported by onError
    await this.writer
      .close()
      .catch((error: unknown) => this.log.warn({ err: error }, 'intake journal: not all points could be saved; the next start saves them'));
    await this.usage.close();
    this.keyLimits.stop();
    await this.usageMinutes.close().catch(() => {}); // a failure was reported by onError
    await this.verifier.close();
    await this.forwardedCounter.close();
  }

  /** The org's points of one metric in [from, to] (seconds), every acknowledged point included. */
  async queryPoints(query: Omit<PointQuery, 'maxScannedPoints'>): Promise<StoredPoint[]> {
    await this.writer.saveNow(); // a client reads back every point it was acknowledged
    return this.pointStore.queryPoints({ ...query, maxScannedPoints: this.maxQueryPoints });
  }

  /** The same points as `queryPoints`, a packed array per series (`PointStore.querySeries`). */
  async querySeries(query: Omit<PointQuery, 'maxScannedPoints' | 'limit'>): Promise<PointSeries[]> {
    await this.writer.saveNow();
    return this.pointStore.querySeries({ ...query, maxScannedPoints: this.maxQueryPoints });
  }

  /** A page of the org's hosts, every accepted payload's host included. */
  async listHosts(query: HostQuery): Promise<{ hosts: StoredHost[]; totalMatching: number }> {
    await this.sightings.flush();
    await this.writer.saveNow();
    return this.pointStore.listHosts(query);
  }

  /** The org's metrics with a point since `since` (epoch seconds), every acknowledged point included. */
  async listMetrics(orgId: string, since: number): Promise<string[]> {
    await this.writer.saveNow();
    return this.pointStore.listMetrics(orgId, since);
  }

  private async sweep(): Promise<void> {
    try {
      const cutoff = Math.floor(this.now() / 1000) - this.retentionSeconds;
      const deleted = await this.pointStore.deleteOlderThan(cutoff);
      if (deleted > 0) this.log.info({ deleted }, 'retention: old points deleted');
      const events = await this.events.deleteOlderThan(cutoff);
      const sketches = await this.sketches.deleteOlderThan(cutoff);
      if (events + sketches > 0) this.log.info({ events, sketches }, 'retention: old events and sketches deleted');
      const usageMinutes = await this.store.deleteKeyUsageMinutesBefore(new Date(cutoff * 1000));
      if (usageMinutes > 0) this.log.info({ usageMinutes }, 'retention: old key usage minutes deleted');
    } catch (error) {
      this.log.warn({ err: error }, 'retention sweep failed; will retry');
    }
  }
}
