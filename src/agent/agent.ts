/**
 * Long on purpose: the one lifecycle (start, reload, flush, stop) wiring components that each live in their own file.
 *
 * The running rekey-agent: config, collectors, DogStatsD, the on-disk queue, the forwarder
 * and the local status endpoint, wired together with one lifecycle.
 *
 * Every flush interval it collects host metrics, takes the DogStatsD buckets that have
 * closed and the DogStatsD events and service checks received, and queues (on disk) the
 * series payloads, the check runs (`datadog.agent.up` and the service checks) and the events
 * (`/intake/`, as the Datadog Agent sends them);
 * host metadata goes to `/intake/` at start and hourly. The forwarder ships the queue.
 *
 * Config reloads (SIGHUP, a change in the config file's directory, or a 403 from the intake)
 * re-read the file; a new `api_key` applies at once to everything still queued.
 *
 * @example
 *   const agent = await Agent.start({ configFile: '/etc/datadog-agent/datadog.yaml', runPath: '/var/lib/rekey-agent', flushIntervalSeconds: 15 });
 *   await agent.stop(); // queues the buckets, keeps the open ones for the next start, delivers for a bounded time
 *
 * What it collected is never discarded for a local reason: series are checked against the
 * intake's per-series limits before queueing (series-limits.ts: only the offending tag, point
 * or series is fixed or dropped, counted); a queue write the disk refuses keeps the payload
 * in memory (disk-queue.ts); the buckets open at a graceful stop are kept in the run path
 * and continued by the next start (open-buckets-file.ts).
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { loadAgentSettings, type AgentSettings } from '../config/agent-settings.js';
import { isRekeyError, rekeyError } from '../errors.js';
import { VERSION } from '../version.js';
import { backoffFromEnv, type BackoffOptions } from './backoff.js';
import { DEFAULT_QUEUE_MAX_BYTES, DiskQueue, type PayloadMeta } from './disk-queue.js';
import { DogStatsDAggregator } from './dogstatsd-aggregator.js';
import type { AgentEvent } from './dogstatsd-events.js';
import { DEFAULT_RECV_BUFFER_BYTES, DogStatsDServer } from './dogstatsd-server.js';
import { displayUrl, Forwarder, type Destination } from './forwarder.js';
import { encodeSketchPayload } from '../intake/sketch-payload.js';
import { HostCollectors } from './host-collectors.js';
import type { Logger } from './logger.js';
import { saveOpenBuckets, takeOpenBuckets } from './open-buckets-file.js';
import { PidFile } from './pid-file.js';
import { SeriesLimits } from './series-limits.js';
import { seriesPayloads } from './series-payloads.js';
import type { CheckRun, Series } from './series.js';
import { StatusServer, type AgentStatus } from './status-server.js';

export const AGENT_VERSION = `rekey-agent/${VERSION}`;

/** Sketches per `/api/beta/sketches` payload: each holds at most a few thousand bins. */
const MAX_SKETCHES_PER_PAYLOAD = 1000;

/** Events or service checks per payload: a few hundred KB of JSON at most, well inside the intake's limits. */
const MAX_ITEMS_PER_PAYLOAD = 100;

/**
 * The Datadog Agent's `/intake/` events payload: events grouped by `source_type_name`
 * (`api` when none), with the sending host. Unlike the Agent's, it carries no `apiKey`
 * field: the key travels in the DD-API-KEY header only.
 */
export function eventsPayload(events: readonly AgentEvent[], host: string): { events: Record<string, AgentEvent[]>; internalHostname: string } {
  const bySource: Record<string, AgentEvent[]> = {};
  for (const event of events) (bySource[event.source_type_name || 'api'] ??= []).push(event);
  return { events: bySource, internalHostname: host };
}

export interface AgentOptions {
  /** Datadog config file; when absent, the default paths then `DD_*` variables only. */
  configFile?: string;
  runPath: string;
  flushIntervalSeconds: number;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  queueMaxBytes?: number;
  backoff?: BackoffOptions;
  /** How long SIGTERM keeps delivering before exiting (default 5 s). */
  shutdownDeliveryMs?: number;
  metadataIntervalMs?: number;
  /** Overrides `dogstatsd_port` (0 = any free port; tests). */
  dogstatsdPort?: number;
  recvBufferSize?: number;
}

export class Agent {
  private settings: AgentSettings;
  private readonly aggregator: DogStatsDAggregator;
  private readonly dogstatsd: DogStatsDServer;
  private readonly collectors = new HostCollectors();
  private readonly limits = new SeriesLimits();
  private forwarder!: Forwarder;
  private queue!: DiskQueue;
  private statusServer!: StatusServer;
  private pidFile!: PidFile;
  private watcher: FSWatcher | null = null;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private lastReloadAt = 0;
  private reloadTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date();
  private lastFlushAt: Date | null = null;
  private lastReloadError: string | null = null;
  private payloadsQueued = 0;
  private queueErrors = 0;
  private dogstatsdPortBound = 0;
  private lastHostSampleSecond = 0;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(private readonly options: AgentOptions) {
    this.env = options.env ?? process.env;
    this.settings = this.loadSettings();
    this.aggregator = new DogStatsDAggregator(
      () => this.hostname(),
      () => this.settings.tags,
    );
    this.dogstatsd = new DogStatsDServer(this.aggregator);
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    await agent.begin();
    return agent;
  }

  private loadSettings(): AgentSettings {
    return loadAgentSettings({ ...(this.options.configFile ? { file: this.options.configFile } : {}), env: this.env });
  }

  hostname(): string {
    return this.settings.hostname ?? os.hostname();
  }

  private async begin(): Promise<void> {
    const { runPath, logger } = this.options;
    const unusable = (error: unknown) =>
      isRekeyError(error) ? error : rekeyError('AGENT_RUN_PATH_UNUSABLE', { runPath, reason: (error as Error).message }, { cause: error });
    try {
      await mkdir(runPath, { recursive: true, mode: 0o700 });
      this.pidFile = await PidFile.acquire(runPath);
    } catch (error) {
      throw unusable(error);
    }
    try {
      this.queue = await DiskQueue.open(runPath, {
        maxBytes: this.options.queueMaxBytes ?? DEFAULT_QUEUE_MAX_BYTES,
        ...(this.settings.queueMemoryBufferBytes !== null ? { memoryMaxBytes: this.settings.queueMemoryBufferBytes } : {}),
      }).catch((error: unknown) => {
        throw unusable(error);
      });
      this.forwarder = new Forwarder({
        queue: this.queue,
        backoff: this.options.backoff ?? backoffFromEnv(this.env),
        logger,
        userAgent: AGENT_VERSION,
        onForbidden: () => this.reload('403 from the intake', 1000),
      });
      this.forwarder.setDestinations(this.destinations());
      const port = this.options.dogstatsdPort ?? this.settings.dogstatsdPort;
      // dogstatsd_so_rcvbuf: 0 means "the kernel's default", as in the Datadog Agent.
      const rcvbuf = this.options.recvBufferSize ?? this.settings.dogstatsdSoRcvbuf ?? DEFAULT_RECV_BUFFER_BYTES;
      this.dogstatsdPortBound = await this.dogstatsd
        .listen(port, this.settings.dogstatsdNonLocalTraffic, rcvbuf > 0 ? rcvbuf : undefined)
        .catch((error: NodeJS.ErrnoException) => {
          const where = this.settings.source.file ?? 'DD_DOGSTATSD_PORT';
          const detail =
            error.code === 'EADDRINUSE'
              ? `DogStatsD port ${port} is already in use by another process (a Datadog Agent?); stop it or change dogstatsd_port in ${where}`
              : `cannot listen for DogStatsD on port ${port}: ${error.message}; change dogstatsd_port in ${where}`;
          throw rekeyError('CONFIG_INVALID', { detail }, { cause: error });
        });
      this.statusServer = await StatusServer.start(runPath, () => this.status());
      // Only once the start can no longer fail: reading the file deletes it, and a start that
      // failed after that (DogStatsD port in use…) would lose the stopped run's counts.
      // Samples received meanwhile are added to, as restore() merges.
      await this.restoreOpenBuckets();
    } catch (error) {
      await this.dogstatsd.close();
      await this.pidFile.release();
      throw error;
    }
    this.watchConfig();
    const interval = Math.max(0.05, this.options.flushIntervalSeconds) * 1000;
    this.timers.push(setInterval(() => void this.flush(), interval));
    this.timers.push(setInterval(() => void this.sendHostMetadata(), this.options.metadataIntervalMs ?? 3_600_000));
    void this.sendHostMetadata();
    // Baseline for the CPU and network deltas, so the first flush already has them.
    void this.collectors.collect(Date.now(), this.hostname(), []);
    logger.info(
      {
        version: AGENT_VERSION,
        config: this.settings.source.file,
        intake: displayUrl(this.settings.intakeUrl),
        keyLast4: this.settings.apiKey?.slice(-4) ?? null,
        dogstatsdPort: this.dogstatsdPortBound,
        runPath,
        statusPort: this.statusServer.port,
      },
      'rekey-agent started',
    );
  }

  /**
   * Continues the buckets a graceful stop left open (open-buckets-file.ts). A bucket that has
   * ended meanwhile is flushed by the next flush with the values it had: the same points the
   * stopped agent already queued, so a re-send changes nothing.
   */
  private async restoreOpenBuckets(): Promise<void> {
    try {
      const snapshot = await takeOpenBuckets(this.options.runPath);
      if (snapshot === null) return;
      const skipped = this.aggregator.restore(snapshot, Date.now());
      const buckets = snapshot.buckets.map((b) => b?.start).filter((start) => typeof start === 'number');
      const savedAt = new Date(Number(snapshot.savedAt));
      this.options.logger.info(
        { buckets, savedAt: Number.isFinite(savedAt.getTime()) ? savedAt.toISOString() : null },
        'continuing the DogStatsD buckets the previous run left open',
      );
      if (skipped > 0) {
        this.options.logger.warn({ skipped }, `${skipped} entries of the open-buckets file were not valid (damaged or edited) and were ignored`);
      }
    } catch (error) {
      this.options.logger.warn(
        { error: (error as Error).message },
        `could not continue the buckets the previous run left open (${(error as Error).message}); they were sent as they were at its stop`,
      );
    }
  }

  /** Main intake plus one destination per additional endpoint key. */
  private destinations(): Destination[] {
    const list: Destination[] = [{ id: 'main', url: this.settings.intakeUrl, apiKey: () => this.settings.apiKey }];
    for (const [url, keys] of Object.entries(this.settings.additionalEndpoints)) {
      const base = url.replace(/\/+$/, '');
      const hash = createHash('sha256').update(base).digest('hex').slice(0, 10);
      keys.forEach((_, index) => {
        list.push({ id: `ae-${hash}-${index}`, url: base, apiKey: () => this.settings.additionalEndpoints[url]?.[index] ?? null });
      });
    }
    return list;
  }

  /** Watches the config file's directory: editors and atomic renames replace the inode. */
  private watchConfig(): void {
    const file = this.settings.source.file;
    if (file === null) return;
    const name = basename(file);
    try {
      this.watcher = watch(dirname(resolve(file)), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.reload('config file changed', 0, 100);
      });
      this.watcher.on('error', () => undefined);
    } catch (error) {
      this.options.logger.warn({ file, error: (error as Error).message }, 'cannot watch the config file; reload with SIGHUP');
    }
  }

  /**
   * Re-reads the config (debounced by `delayMs`, at most once per `minGapMs`). A broken file
   * keeps the previous settings and is reported in the status.
   */
  reload(reason: string, minGapMs = 0, delayMs = 0): void {
    if (this.reloadTimer !== null) return;
    const wait = Math.max(delayMs, this.lastReloadAt + minGapMs - Date.now());
    this.reloadTimer = setTimeout(
      () => {
        this.reloadTimer = null;
        this.lastReloadAt = Date.now();
        this.applyReload(reason);
      },
      Math.max(0, wait),
    );
    this.reloadTimer.unref();
  }

  private applyReload(reason: string): void {
    let next: AgentSettings;
    try {
      next = this.loadSettings();
      this.lastReloadError = null;
    } catch (error) {
      this.lastReloadError = (error as Error).message;
      this.options.logger.warn({ reason }, `config reload failed, keeping the previous settings: ${this.lastReloadError}`);
      return;
    }
    const before = this.settings;
    this.settings = next;
    this.options.logger.info({ reason, keyLast4: next.apiKey?.slice(-4) ?? null }, 'config reloaded');
    this.forwarder.setDestinations(this.destinations());
    const keyChanged =
      before.apiKey !== next.apiKey ||
      JSON.stringify(before.additionalEndpoints) !== JSON.stringify(next.additionalEndpoints) ||
      before.intakeUrl !== next.intakeUrl;
    if (keyChanged) {
      this.options.logger.info(
        { reason, keyLast4: next.apiKey?.slice(-4) ?? null, previousLast4: before.apiKey?.slice(-4) ?? null },
        'api_key or endpoints changed; delivering the queue with the new settings',
      );
      this.forwarder.keyChanged();
    }
    if (before.dogstatsdPort !== next.dogstatsdPort && this.options.dogstatsdPort === undefined) {
      this.options.logger.warn({}, 'dogstatsd_port changed; restart the agent to listen on the new port');
    }
  }

  /** One flush: closed DogStatsD buckets + host metrics + agent.up, queued on disk. */
  flush(options: { all?: boolean } = {}): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushOnce(options.all ?? false).finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushOnce(all: boolean): Promise<void> {
    const now = Date.now();
    const host = this.hostname();
    const tags = this.settings.tags;
    try {
      let series: Series[] = all ? this.aggregator.flushAll() : this.aggregator.flushClosed(now);
      // One host sample per second at most: a second one would be a different value for the
      // same (metric, host, tags, timestamp).
      const second = Math.floor(now / 1000);
      if (!all && second !== this.lastHostSampleSecond) {
        this.lastHostSampleSecond = second;
        series.push(...(await this.collectors.collect(now, host, tags)));
      }
      // What the intake would refuse is fixed here, series by series, so the payload is accepted.
      const fixesBefore = JSON.stringify(this.limits.counters);
      series = this.limits.apply(series);
      if (JSON.stringify(this.limits.counters) !== fixesBefore) {
        this.options.logger.warn({ ...this.limits.counters }, `series changed to fit the intake's limits (${this.limits.counters.lastFix})`);
      }
      // Cut by size and by the intake's work caps too, not only by count: a payload over a
      // cap is refused whole (413) and could only be deleted (series-payloads.ts).
      for (const json of seriesPayloads(series)) {
        await this.enqueueText({ path: '/api/v1/series', encoding: 'deflate', contentType: 'application/json' }, json);
      }
      // Distributions: DDSketches in the Agent's SketchPayload, as the Datadog Agent sends them.
      const sketches = this.aggregator.takeSketches().map((c) => ({ metric: c.metric, host: c.host, tags: c.tags, dogsketches: [c.sketch] }));
      for (let i = 0; i < sketches.length; i += MAX_SKETCHES_PER_PAYLOAD) {
        const bytes = encodeSketchPayload(sketches.slice(i, i + MAX_SKETCHES_PER_PAYLOAD), AGENT_VERSION);
        await this.enqueueBytes({ path: '/api/beta/sketches', encoding: 'deflate', contentType: 'application/x-protobuf' }, Buffer.from(bytes));
      }
      // DogStatsD events and service checks as the Datadog Agent forwards them: the agent's
      // hostname where the datagram named none, its config tags added like to the metrics.
      const { events, checks: serviceChecks } = this.dogstatsd.pending.take();
      const withTags = (own: string[]) => [...new Set([...own, ...tags])];
      const checks: CheckRun[] = serviceChecks.map((c) => ({ ...c, host_name: c.host_name || host, tags: withTags(c.tags) }));
      if (!all) checks.push({ check: 'datadog.agent.up', host_name: host, status: 0, timestamp: Math.floor(now / 1000), tags });
      for (let i = 0; i < checks.length; i += MAX_ITEMS_PER_PAYLOAD) {
        await this.enqueueJson({ path: '/api/v1/check_run', encoding: 'deflate', contentType: 'application/json' }, checks.slice(i, i + MAX_ITEMS_PER_PAYLOAD));
      }
      for (let i = 0; i < events.length; i += MAX_ITEMS_PER_PAYLOAD) {
        const chunk = events.slice(i, i + MAX_ITEMS_PER_PAYLOAD).map((e) => ({ ...e, host: e.host || host, tags: withTags(e.tags) }));
        await this.enqueueJson({ path: '/intake/', encoding: 'gzip', contentType: 'application/json' }, eventsPayload(chunk, host));
      }
      this.lastFlushAt = new Date(now);
    } catch (error) {
      this.queueErrors++;
      this.options.logger.error({ error: (error as Error).message }, 'could not queue the payloads on disk');
    }
  }

  private async sendHostMetadata(): Promise<void> {
    const host = this.hostname();
    const document = {
      internalHostname: host,
      agentVersion: AGENT_VERSION,
      os: os.platform(),
      meta: { hostname: host, socket_hostname: os.hostname(), platform: os.platform(), kernel: os.release() },
      systemStats: { cpuCores: os.cpus().length, machine: os.arch(), platform: os.platform() },
      'host-tags': { system: this.settings.tags },
    };
    try {
      await this.enqueueJson({ path: '/intake/', encoding: 'gzip', contentType: 'application/json' }, document);
    } catch (error) {
      this.queueErrors++;
      this.options.logger.error({ error: (error as Error).message }, 'could not queue the host metadata on disk');
    }
  }

  private enqueueJson(meta: PayloadMeta, value: unknown): Promise<void> {
    return this.enqueueText(meta, JSON.stringify(value));
  }

  private enqueueText(meta: PayloadMeta, text: string): Promise<void> {
    return this.enqueueBytes(meta, Buffer.from(text));
  }

  private async enqueueBytes(meta: PayloadMeta, json: Buffer): Promise<void> {
    // Compressed on the main thread: a payload is at most 2,000 series (a few ms of deflate),
    // and zlib's ~300 KB of state per stream stays out of the libuv pool threads' malloc
    // arenas, where it stayed resident (bench/agent-resources.ts).
    const body = meta.encoding === 'gzip' ? gzipSync(json) : deflateSync(json);
    await this.queue.enqueue(meta, body, this.forwarder.destinationIds());
    this.payloadsQueued++;
  }

  status(): AgentStatus {
    const main = this.forwarder.status().find((d) => d.id === 'main');
    const memory = process.memoryUsage();
    return {
      version: AGENT_VERSION,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      hostname: this.hostname(),
      config: { file: this.settings.source.file, format: this.settings.source.format, lastReloadError: this.lastReloadError },
      apiKey: { last4: this.settings.apiKey?.slice(-4) ?? null, source: this.settings.apiKeySource, state: main?.keyState ?? 'unknown' },
      intake: { url: displayUrl(this.settings.intakeUrl), lastSuccessAt: main?.lastSuccessAt ?? null, lastError: main?.lastError ?? null },
      lastFlushAt: this.lastFlushAt?.toISOString() ?? null,
      queue: {
        depth: this.queue.depth,
        bytes: this.queue.bytes,
        dropped: this.queue.dropped,
        corrupt: this.queue.corrupt,
        memoryDepth: this.queue.memoryDepth,
        memoryBytes: this.queue.memoryBytes,
        memoryDropped: this.queue.memoryDropped,
        writeErrors: this.queue.writeErrors,
        lastWriteError: this.queue.lastWriteError,
      },
      components: {
        dogstatsd: {
          port: this.dogstatsdPortBound,
          received: this.dogstatsd.counters.packets,
          metrics: this.dogstatsd.counters.metrics,
          errored: this.dogstatsd.counters.malformed,
          skipped: this.dogstatsd.counters.skipped,
          events: this.dogstatsd.counters.events,
          serviceChecks: this.dogstatsd.counters.serviceChecks,
          dropped: this.aggregator.droppedContexts + this.dogstatsd.pending.dropped,
          recvBufferBytes: this.dogstatsd.recvBufferSize,
          kernelDrops: this.dogstatsd.kernelDrops,
        },
        series: { ...this.limits.counters },
        queue: { received: this.payloadsQueued, errored: this.queueErrors, dropped: this.queue.dropped + this.queue.memoryDropped },
        destinations: this.forwarder.status(),
      },
      process: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    };
  }

  /**
   * Stops collecting, keeps the still open buckets in the run path for the next start, queues
   * every bucket (open ones with their values so far), delivers for at most
   * `shutdownDeliveryMs`, and releases the run path. Runs once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.watcher?.close();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    await this.dogstatsd.close();
    if (this.flushing) await this.flushing;
    // First the open buckets' state, then the flush: if the process dies in between, the next
    // start still has every count.
    try {
      await saveOpenBuckets(this.options.runPath, this.aggregator.snapshotOpen(Date.now()));
    } catch (error) {
      this.options.logger.warn(
        { error: (error as Error).message },
        "could not keep the open DogStatsD buckets in the run path; if the agent starts again within the same 10 s bucket, that bucket's counts from before the stop are replaced by the ones after it",
      );
    }
    await this.flush({ all: true });
    await this.forwarder.drain(this.options.shutdownDeliveryMs ?? 5000);
    await this.queue.retryDisk();
    if (this.queue.memoryDepth > 0) {
      this.options.logger.error(
        { payloads: this.queue.memoryDepth, error: this.queue.lastWriteError },
        'payloads neither delivered nor written to the run path are lost at exit; free the run path before stopping the agent',
      );
    }
    await this.statusServer.close();
    await this.pidFile.release();
    this.options.logger.info({ queued: this.queue.depth }, 'rekey-agent stopped');
  }
}
