/**
 * The metric intake as a Fastify plugin (docs/product.md §3):
 *
 *   POST /api/v1/series     Datadog v1 JSON                      → 202 {"status":"ok"} (+ "errors")
 *   POST /api/v2/series     v2 JSON, or Agent 7 protobuf          → 202 {"errors":[…]}
 *   POST /api/v1/check_run  array of service checks               → 202 {"status":"ok"}
 *   POST /intake/           host metadata (latest kept per host)  → 202 {"status":"ok"}
 *   GET  /api/v1/query      metric query (management auth)        → Datadog's MetricsQueryResponse
 *   GET  /api/v1/hosts      hosts seen (management auth)          → Datadog's HostListResponse
 *
 * Order of work per request, cheapest refusal first, all in `onRequest` before a byte of the
 * body is read: the client address's rate limit (429), then the API key, verified from
 * memory (403 {"errors":["Forbidden"]}; an unknown key past its address's lookup budget 429),
 * then the key's rate limit and its refused-payload budget (429, both with Retry-After).
 * Then the body is read with the wire limit and decompressed with the decoded limit, its
 * work counted as it inflates (413 as soon as a limit or cap is crossed: payload-caps.ts);
 * then decoded and validated — invalid series are left out and listed in `errors`, a payload
 * with none valid is 400; then stored, and the 202 is sent only once the points are
 * committed (see point-writer.ts). docs/security.md, "The intake under abuse". The hosts a payload names
 * are gathered in memory and written once a second and before every host-list read
 * (host-sightings.ts), like key usage (usage-aggregator.ts): no per-request upsert.
 *
 * The plugin is encapsulated (not wrapped in fastify-plugin): its raw-body content-type
 * parser and its error handler apply to its own routes only.
 *
 * @example
 *   await app.register(intakePlugin, { store, hasher });
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { addressKey } from '../server/client-address.js';
import { RekeyError, rekeyError } from '../errors.js';
import { parseKey } from '../keys/key-format.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { ApiKey, Store } from '../store/store.js';
import { KyselyPointStore } from '../points/kysely-point-store.js';
import { evaluateMetricQuery, parseMetricQuery } from '../points/metric-query.js';
import type { PointStore, StoredSeries } from '../points/point-store.js';
import { PointJournal } from '../points/point-journal.js';
import { PointWriter, STORAGE_RETRY_AFTER_SECONDS } from '../points/point-writer.js';
import { ApiKeyVerifier, type LookupBudget } from './api-key-verifier.js';
import { decodeCheckRuns } from './check-run-payload.js';
import { decompressBody, parseContentEncoding } from './decompress-body.js';
import { decodeHostMetadata } from './host-metadata-payload.js';
import { MetricPayloadCounter } from './metric-payload-proto.js';
import { V1_LIMITS, V2_LIMITS, type IntakeLimits } from './intake-limits.js';
import { DEFAULT_PAYLOAD_CAPS, JsonScanner, markScanned, parseBoundedJson, type PayloadCaps } from './payload-caps.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { readBody } from './read-body.js';
import {
  DEFAULT_TIMESTAMP_WINDOW,
  decodeProtoSeries,
  decodeV1Series,
  decodeV2Series,
  pointsPerHost,
  type IntakeSeries,
  type TimestampWindow,
} from './series-payload.js';
import { HostSightings } from './host-sightings.js';
import { createIntakeMetrics } from './intake-metrics.js';
import { UsageAggregator } from './usage-aggregator.js';

export interface IntakePluginOptions {
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
  /** Points older than this are deleted (default 7 days), swept every `sweepIntervalMs` (default 1 h). */
  retentionSeconds?: number;
  sweepIntervalMs?: number;
  /** Accepted timestamps; default 10 min ahead, `retentionSeconds` back (series-payload.ts). */
  timestampWindow?: Partial<TimestampWindow>;
  /** Verifier cache lifetime, ≤ 5000 ms. */
  cacheTtlMs?: number;
  /**
   * Authenticates the management reads (query, hosts) and returns the caller's org id;
   * the server passes its own (DD-API-KEY + DD-APPLICATION-KEY). Default: a store lookup of both keys.
   */
  managementAuth?: (request: FastifyRequest, reply: FastifyReply) => Promise<string>;
  /**
   * BENCHMARKS ONLY: skip API-key verification and file everything under this org.
   * Exists to measure verification's cost (bench/intake-auth-overhead.ts); never set by the server.
   */
  benchSkipVerification?: { orgId: string };
  /** Where the intake's Prometheus metrics go (intake-metrics.ts); the server passes its registry. */
  metricsRegistry?: Registry;
  /** `/api/v1/query` refuses a time range holding more stored points than this (default 2,000,000). */
  maxQueryPoints?: number;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
  /**
   * Relay mode (src/relay/relay.ts): an organisation it `handles` has its payloads forwarded
   * upstream, byte for byte, instead of stored. Its requests are handed over right after the
   * key and rate checks, before the body is read.
   */
  relay?: IntakeRelay;
}

/** What the intake needs of the relay (src/relay/relay.ts). */
export interface IntakeRelay {
  /** Any organisation in relay mode: without one, intake paths the intake does not serve stay 404. */
  active(): boolean;
  handles(orgId: string): boolean;
  accept(request: FastifyRequest, reply: FastifyReply, orgId: string): Promise<FastifyReply>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Size limits of an intake route. */
    intakeLimits?: IntakeLimits;
    /** An intake path only relay mode serves (logs, traces, any other `/api/…`): 404 otherwise. */
    relayOnly?: boolean;
  }
}

export interface IntakeRateLimits {
  /** Intake requests per API key. */
  perKey: RateLimit;
  /** Intake requests per client address (`request.ip`), counted before the key is checked. */
  perAddress: RateLimit;
  /** Lookups of unknown well-formed keys per client address. */
  unknownKeysPerAddress: RateLimit;
  /**
   * Refused payloads (400/413/415: too large, too complex, corrupt, invalid) per API key. An
   * agent almost never sends one; a key that keeps sending them is answered 429 before its
   * body is even read, so it cannot keep the intake decompressing and scanning bombs.
   */
  refusedPayloadsPerKey: RateLimit;
}

/**
 * The request limits sit above what one node serves (about 7,000 100-point requests/s for the
 * bare floor on the 2-core CI machine), so they never throttle a real fleet: the product's main
 * case is ONE organisation key in every agent, and a proxy without `--trust-proxy` makes the
 * whole fleet one address. At 2,000/s per key and 1,000/s per address (the first defaults),
 * `bench/intake-shipped-server.ts` measured the shipped server answering 429 to most of one
 * key's load at 0.20 of the floor. What bounds an abusive key holder is the work caps and the
 * refused-payload budget (bench/abuse.ts). Key guessing gets 10 lookups/s per address.
 */
export const DEFAULT_INTAKE_RATE_LIMITS: IntakeRateLimits = {
  perKey: { perSecond: 20_000, burst: 40_000 },
  perAddress: { perSecond: 20_000, burst: 40_000 },
  unknownKeysPerAddress: { perSecond: 10, burst: 100 },
  refusedPayloadsPerKey: { perSecond: 5, burst: 50 },
};

interface Caller {
  orgId: string;
  key: ApiKey | null;
}

const callers = new WeakMap<FastifyRequest, Caller>();

const PROTOBUF_TYPE = /^application\/(x-)?protobuf\b/i;
const V1_ACCEPTED = { status: 'ok' };
const V2_ACCEPTED = { errors: [] as string[] };

export async function intakePlugin(app: FastifyInstance, options: IntakePluginOptions): Promise<void> {
  const now = options.now ?? Date.now;
  const maxQueryPoints = options.maxQueryPoints ?? 2_000_000;
  const limitsV1 = options.limits?.v1 ?? V1_LIMITS;
  const limitsV2 = options.limits?.v2 ?? V2_LIMITS;
  const caps: PayloadCaps = { ...DEFAULT_PAYLOAD_CAPS, ...options.payloadCaps };
  const rateLimits: IntakeRateLimits = { ...DEFAULT_INTAKE_RATE_LIMITS, ...options.rateLimits };
  const perKey = new RateLimiter(rateLimits.perKey, { now });
  const perAddress = new RateLimiter(rateLimits.perAddress, { now });
  const unknownKeysPerAddress = new RateLimiter(rateLimits.unknownKeysPerAddress, { now });
  const refusedPayloadsPerKey = new RateLimiter(rateLimits.refusedPayloadsPerKey, { now });
  const retentionSeconds = options.retentionSeconds ?? 7 * 24 * 3600;
  const window: TimestampWindow = {
    futureSeconds: options.timestampWindow?.futureSeconds ?? DEFAULT_TIMESTAMP_WINDOW.futureSeconds,
    maxAgeSeconds: options.timestampWindow?.maxAgeSeconds ?? retentionSeconds,
  };
  const pointStore = options.pointStore ?? new KyselyPointStore(options.store.sharedTables());
  const metrics = createIntakeMetrics(options.metricsRegistry);
  // Recovery reads what an earlier run left before this run's first journal file exists.
  const recovered = options.journalDir === undefined ? undefined : PointJournal.recover(options.journalDir);
  const journal = options.journalDir === undefined ? undefined : PointJournal.open(options.journalDir, { sync: options.durability === 'power' });
  const writer = new PointWriter(pointStore, {
    onBatch: metrics.batch,
    ...(journal === undefined ? {} : { journal }),
    ...(options.journalSaveIntervalMs === undefined ? {} : { saveIntervalMs: options.journalSaveIntervalMs }),
    onSaveError: (error) => {
      metrics.saveFailed();
      app.log.warn({ err: error }, 'intake journal: saving into the database failed; will retry');
    },
    ...(options.pointFlushDelayMs === undefined ? {} : { flushDelayMs: options.pointFlushDelayMs }),
    ...(options.maxBatchPoints === undefined ? {} : { maxBatchPoints: options.maxBatchPoints }),
  });
  metrics.watchUnsaved(() => writer.unsavedPointCount);
  const verifier = new ApiKeyVerifier(options.store, options.hasher, {
    ...(options.cacheTtlMs === undefined ? {} : { ttlMs: options.cacheTtlMs }),
    now,
  });
  const usage = new UsageAggregator(options.store, {
    intervalMs: options.usageFlushIntervalMs ?? 1000,
    now,
    onError: (error) => app.log.warn({ err: error }, 'key usage could not be recorded; will retry'),
  });
  const sightings = new HostSightings({
    write: (hosts) => writer.write({ hosts }),
    onError: (error) => app.log.warn({ err: error }, 'host sightings could not be recorded; will retry'),
  });
  if (recovered !== undefined && recovered.files.length > 0) {
    const { points, dropped, droppedPoints } = await writer.recover(recovered);
    app.log.info({ points, files: recovered.files.length, tornRecords: dropped, tornBytes: recovered.droppedBytes, tornRecordPoints: droppedPoints }, 'intake journal: points an earlier run acknowledged are saved');
    // Torn records were never acknowledged (a 202 follows a whole append), but say what they held.
    if (dropped > 0) app.log.warn({ tornRecords: dropped, tornBytes: recovered.droppedBytes, tornRecordPoints: droppedPoints }, 'intake journal: skipped torn records (writes that failed or were cut short; never acknowledged)');
  }
  await verifier.start();
  usage.start();
  sightings.start();

  const sweep = async () => {
    try {
      const deleted = await pointStore.deleteOlderThan(Math.floor(now() / 1000) - retentionSeconds);
      if (deleted > 0) app.log.info({ deleted }, 'retention: old points deleted');
    } catch (error) {
      app.log.warn({ err: error }, 'retention sweep failed; will retry');
    }
  };
  const sweepTimer = setInterval(() => void sweep(), options.sweepIntervalMs ?? 3600_000);
  sweepTimer.unref();

  app.addHook('onClose', async () => {
    clearInterval(sweepTimer);
    await sightings.close().catch(() => {}); // a failure was reported by onError
    await writer.close().catch((error) => app.log.warn({ err: error }, 'intake journal: not all points could be saved; the next start saves them'));
    await usage.close();
    await verifier.close();
  });

  // ---- body: raw bytes, size-limited and decompressed here, for every content type ----
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (request: FastifyRequest) => {
    const limits = request.routeOptions.config.intakeLimits ?? limitsV1;
    const encoding = parseContentEncoding(headerValue(request.headers['content-encoding']));
    const wire = await readBody(request.raw, limits.wireBytes, encoding === 'identity' ? 'payload' : 'compressed payload');
    if (encoding === 'identity') return wire;
    if (PROTOBUF_TYPE.test(headerValue(request.headers['content-type']) ?? '')) {
      // protobuf: its series counted while it is inflated (metric-payload-proto.ts).
      const counter = new MetricPayloadCounter(caps);
      return decompressBody(wire, encoding, limits.decodedBytes, (chunk) => counter.push(chunk));
    }
    // JSON: counted while it is inflated, so a bomb stops at its first megabytes (payload-caps.ts).
    const scanner = new JsonScanner(caps);
    return markScanned(await decompressBody(wire, encoding, limits.decodedBytes, (chunk) => scanner.push(chunk)));
  });

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    // A storage failure (disk full, database down) is temporary: tell the client when to retry.
    if ((error instanceof RekeyError ? error.status : error.statusCode ?? 503) === 503) reply.header('retry-after', String(STORAGE_RETRY_AFTER_SECONDS));
    // A refused body may not have been read to its end (read-body.ts): close after the 413.
    if ((error instanceof RekeyError ? error.status : error.statusCode) === 413) reply.header('connection', 'close');
    const refusedBy = callers.get(request)?.key;
    if (refusedBy && (error instanceof RekeyError ? error.status : error.statusCode ?? 500) < 500) refusedPayloadsPerKey.take(refusedBy.id);
    if (error instanceof RekeyError) {
      if (error.status >= 500) request.log.error({ err: error }, 'intake request failed');
      return reply.code(error.status).send({ errors: [error.message] });
    }
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // Fastify's own messages may quote the body; a body may hold a key.
      return reply.code(status).send({ errors: [status === 413 ? 'The request body is too large' : 'Bad request'] });
    }
    request.log.error({ err: error }, 'intake: storing failed');
    return reply.code(503).send({ errors: ['The data could not be stored; retry'] });
  });

  /** 429 + Retry-After; `reason` labels rekey_intake_refused_total. */
  const tooMany = (reply: FastifyReply, reason: string, code: 'INTAKE_RATE_LIMITED' | 'RATE_LIMITED', who: string, retryAfterSeconds: number) => {
    metrics.refused(reason);
    const error = code === 'RATE_LIMITED' ? rekeyError(code, { retryAfterSeconds }) : rekeyError(code, { who, retryAfterSeconds });
    return reply.code(429).header('retry-after', String(retryAfterSeconds)).send({ errors: [error.message] });
  };

  // ---- authentication: from memory, before the body is read ----
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.relayOnly && !options.relay?.active()) return reply.code(404).send({ errors: ['Not found'] });
    const address = addressKey(request.ip); // an IPv6 /64 is one client (client-address.ts)
    const addressWait = perAddress.take(address);
    if (addressWait > 0) return tooMany(reply, 'rate_limited_address', 'INTAKE_RATE_LIMITED', 'address', addressWait);
    if (options.benchSkipVerification) {
      callers.set(request, { orgId: options.benchSkipVerification.orgId, key: null });
      return;
    }
    const header = request.headers['dd-api-key'];
    let raw: string | undefined;
    if (Array.isArray(header)) raw = '\u0000'; // repeated header: malformed
    else if (header !== undefined) raw = header;
    else {
      const fromQuery = (request.query as Record<string, unknown> | undefined)?.api_key;
      raw = typeof fromQuery === 'string' ? fromQuery : Array.isArray(fromQuery) ? '\u0000' : undefined;
    }
    const budget: LookupBudget = {
      check: () => unknownKeysPerAddress.check(address),
      spend: () => void unknownKeysPerAddress.take(address),
    };
    const verdict = await verifier.verify(raw, budget);
    if (!verdict.ok && verdict.reason === 'throttled') {
      request.log.info({ intakeAuthFailure: verdict.reason }, 'intake: too many unknown keys from this address');
      return tooMany(reply, 'unknown_keys_throttled', 'RATE_LIMITED', 'address', verdict.retryAfterSeconds);
    }
    if (!verdict.ok) {
      metrics.refused(verdict.reason);
      request.log.info({ intakeAuthFailure: verdict.reason }, 'intake: key refused');
      return reply.code(403).send({ errors: ['Forbidden'] });
    }
    const keyWait = perKey.take(verdict.key.id);
    if (keyWait > 0) return tooMany(reply, 'rate_limited_key', 'INTAKE_RATE_LIMITED', 'API key', keyWait);
    const refusedWait = refusedPayloadsPerKey.check(verdict.key.id);
    if (refusedWait > 0) return tooMany(reply, 'refused_payloads', 'INTAKE_RATE_LIMITED', 'API key after too many refused payloads', refusedWait);
    callers.set(request, { orgId: verdict.key.orgId, key: verdict.key });
    if (options.relay?.handles(verdict.key.orgId)) {
      usage.record(verdict.key.id, '', 0, agentVersionOf(request));
      return options.relay.accept(request, reply, verdict.key.orgId);
    }
    if (request.routeOptions.config.relayOnly) return reply.code(404).send({ errors: ['Not found'] });
  };

  const callerOf = (request: FastifyRequest): Caller => {
    const caller = callers.get(request);
    if (caller === undefined) throw new Error('intake route without authentication (a bug)');
    return caller;
  };

  const bodyOf = (request: FastifyRequest): Buffer => {
    const body = request.body;
    if (!Buffer.isBuffer(body)) throw rekeyError('INVALID_PAYLOAD', { detail: 'The request has no body; send a payload' });
    return body;
  };

  const store = async (caller: Caller, series: IntakeSeries[], agentVersion: string | null) => {
    const nowMs = now();
    const stored: StoredSeries[] = series.map((s) => ({ orgId: caller.orgId, metric: s.metric, host: s.host, tags: s.tags, type: s.type, interval: s.interval, points: s.points }));
    let points = 0;
    for (const [host, count] of pointsPerHost(series)) {
      points += count;
      if (host !== '') sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion, metadata: null });
      if (caller.key) usage.record(caller.key.id, host, count, agentVersion);
    }
    await writer.write({ series: stored });
    metrics.accepted(points);
  };

  const seconds = () => Math.floor(now() / 1000);

  app.post(
    '/api/v1/series',
    {
      config: { intakeLimits: limitsV1 },
      onRequest: authenticate,
      schema: {
        summary: 'Submit metrics (Datadog v1 JSON)',
        description: '202 `{"status":"ok"}` when every series is stored; when some series are invalid, the valid ones are stored and the answer is 202 `{"status":"ok","errors":[…]}` naming each refused series; 400 when none is valid or the payload is malformed. 403 `{\"errors\":[\"Forbidden\"]}` for a missing, malformed, unknown, revoked or expired key; 413 over the byte limits or the work caps (series, points, tags, JSON values); 415 for an unknown Content-Encoding; 429 with Retry-After over a rate limit; 503 with Retry-After when the points cannot be stored. Limits and caps: docs/security.md, The intake under abuse.',
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const errors: string[] = [];
      const series = decodeV1Series(await parseBoundedJson(bodyOf(request), caps), seconds(), window, { caps, errors });
      await store(caller, series, agentVersionOf(request));
      // Datadog's v1 answer is {"status":"ok"}; the series left out are listed beside it.
      return reply.code(202).send(errors.length === 0 ? V1_ACCEPTED : { ...V1_ACCEPTED, errors });
    },
  );

  app.post(
    '/api/v2/series',
    {
      config: { intakeLimits: limitsV2 },
      onRequest: authenticate,
      schema: {
        summary: 'Submit metrics (Datadog v2 JSON, or the Agent 7 protobuf MetricPayload)',
        description: '202 `{"errors":[]}` when every series is stored; when some series are invalid, the valid ones are stored and `errors` names each refused series (Datadog\'s IntakePayloadAccepted); 400 when none is valid or the payload is malformed. 403 `{\"errors\":[\"Forbidden\"]}` for a missing, malformed, unknown, revoked or expired key; 413 over the byte limits or the work caps (series, points, tags, JSON values); 415 for an unknown Content-Encoding; 429 with Retry-After over a rate limit; 503 with Retry-After when the points cannot be stored. Limits and caps: docs/security.md, The intake under abuse.',
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = bodyOf(request);
      const contentType = headerValue(request.headers['content-type']) ?? '';
      const errors: string[] = [];
      const series = PROTOBUF_TYPE.test(contentType)
        ? decodeProtoSeries(body, seconds(), window, { caps, errors })
        : decodeV2Series(await parseBoundedJson(body, caps), seconds(), window, { caps, errors });
      await store(caller, series, agentVersionOf(request));
      // Datadog's v2 IntakePayloadAccepted: "errors" lists the non-fatal problems.
      return reply.code(202).send(errors.length === 0 ? V2_ACCEPTED : { errors });
    },
  );

  app.post(
    '/api/v1/check_run',
    { config: { intakeLimits: limitsV1 }, onRequest: authenticate },
    async (request, reply) => {
      const caller = callerOf(request);
      const runs = decodeCheckRuns(await parseBoundedJson(bodyOf(request), caps), seconds(), window);
      const nowMs = now();
      const hosts = [...new Set(runs.map((r) => r.host).filter((h) => h !== ''))];
      for (const host of hosts) sightings.record({ orgId: caller.orgId, host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: null, metadata: null });
      await writer.write({
        checkRuns: runs.map((r) => ({ orgId: caller.orgId, check: r.check, host: r.host, tags: r.tags, status: r.status, message: r.message, ts: r.timestamp })),
      });
      if (caller.key) for (const host of hosts.length > 0 ? hosts : ['']) usage.record(caller.key.id, host, 0);
      return reply.code(202).send(V1_ACCEPTED);
    },
  );

  app.post(
    '/intake/',
    { config: { intakeLimits: limitsV1 }, onRequest: authenticate },
    async (request, reply) => {
      const caller = callerOf(request);
      const metadata = decodeHostMetadata(await parseBoundedJson(bodyOf(request), caps));
      const nowMs = now();
      await writer.write({
        hosts: [{ orgId: caller.orgId, host: metadata.host, firstSeen: nowMs, lastSeen: nowMs, agentVersion: metadata.agentVersion, metadata: metadata.document }],
      });
      if (caller.key) usage.record(caller.key.id, metadata.host, 0, metadata.agentVersion);
      return reply.code(202).send(V1_ACCEPTED);
    },
  );

  // Every other intake path the Datadog Agent posts to (logs, traces, sketches, events, metadata…):
  // forwarded for organisations in relay mode, 404 otherwise. Specific routes win over this one.
  app.post('/api/*', { config: { intakeLimits: limitsV2, relayOnly: true }, onRequest: authenticate, schema: { hide: true } }, async (_request, reply) =>
    reply.code(404).send({ errors: ['Not found'] }),
  );

  // ---- reads: management auth ----
  const managementAuth = options.managementAuth ?? storeManagementAuth(options.store, options.hasher, verifier);

  app.get('/api/v1/query', async (request, reply) => {
    const orgId = await managementAuth(request, reply);
    const query = request.query as Record<string, unknown>;
    const from = integerParam(query.from, 'from');
    const to = integerParam(query.to, 'to');
    if (to < from) throw rekeyError('INVALID_QUERY', { detail: '"to" is before "from"' });
    if (typeof query.query !== 'string' || query.query === '') {
      throw rekeyError('INVALID_QUERY', { detail: 'The "query" parameter is required, e.g. avg:system.load.1{*}' });
    }
    const parsed = parseMetricQuery(query.query);
    await writer.saveNow(); // a client reads back every point it was acknowledged
    const points = await pointStore.queryPoints({ orgId, metric: parsed.metric, from, to, maxScannedPoints: maxQueryPoints });
    return reply.send({
      status: 'ok',
      res_type: 'time_series',
      series: evaluateMetricQuery(parsed, points),
      from_date: from * 1000,
      to_date: to * 1000,
      query: query.query,
      message: '',
      group_by: parsed.groupBy,
    });
  });

  app.get('/api/v1/hosts', async (request, reply) => {
    const orgId = await managementAuth(request, reply);
    const query = request.query as Record<string, unknown>;
    const count = query.count === undefined ? 100 : integerParam(query.count, 'count');
    const start = query.start === undefined ? 0 : integerParam(query.start, 'start');
    if (count < 1 || count > 1000) throw rekeyError('INVALID_QUERY', { detail: '"count" must be between 1 and 1000' });
    if (start < 0) throw rekeyError('INVALID_QUERY', { detail: '"start" must not be negative' });
    const seenSince = query.from === undefined ? undefined : new Date(integerParam(query.from, 'from') * 1000);
    await sightings.flush(); // every accepted payload's host is in the list
    await writer.saveNow();
    const { hosts, totalMatching } = await pointStore.listHosts({
      orgId,
      ...(typeof query.filter === 'string' ? { filter: query.filter } : {}),
      ...(seenSince ? { seenSince } : {}),
      offset: start,
      count,
    });
    const upSince = now() - 15 * 60_000; // Datadog shows a host "up" while it reported in the last ~15 min
    return reply.send({
      host_list: hosts.map((host, index) => ({
        name: host.host,
        host_name: host.host,
        id: start + index + 1,
        aliases: [host.host],
        apps: ['agent'],
        sources: ['agent'],
        up: host.lastSeen.getTime() >= upSince,
        is_muted: false,
        last_reported_time: Math.floor(host.lastSeen.getTime() / 1000),
        meta: host.agentVersion === null ? {} : { agent_version: host.agentVersion },
        tags_by_source: {},
      })),
      total_matching: totalMatching,
      total_returned: hosts.length,
    });
  });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const AGENT_USER_AGENT = /^(?:datadog-agent|rekey-agent)\/([0-9][\w.+-]{0,60})/i;

/** The sending agent's version: `DD-Agent-Version`, else a `datadog-agent/7.x` or `rekey-agent/x` User-Agent. */
function agentVersionOf(request: FastifyRequest): string | null {
  const value = headerValue(request.headers['dd-agent-version']);
  if (value !== undefined && value !== '') return value.slice(0, 100);
  const userAgent = headerValue(request.headers['user-agent']);
  return (userAgent && AGENT_USER_AGENT.exec(userAgent)?.[1]) || null;
}

function integerParam(value: unknown, name: string): number {
  const number = typeof value === 'string' && /^-?\d{1,12}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) {
    throw rekeyError('INVALID_QUERY', { detail: `"${name}" must be an integer (seconds since the epoch for from/to)` });
  }
  return number;
}

/** Management auth when the server gives none: DD-API-KEY (verified like the intake) + DD-APPLICATION-KEY of the same org. */
function storeManagementAuth(store: Store, hasher: KeyHasher, verifier: ApiKeyVerifier) {
  return async (request: FastifyRequest): Promise<string> => {
    const apiHeader = request.headers['dd-api-key'];
    const appHeader = request.headers['dd-application-key'];
    const verdict = await verifier.verify(typeof apiHeader === 'string' ? apiHeader : undefined);
    if (!verdict.ok || typeof appHeader !== 'string' || !parseKey(appHeader, 'app').ok) throw rekeyError('FORBIDDEN');
    const appKey = await store.findAppKeyByHash(hasher.hash(appHeader));
    // A key disabled with its owner (user disabled, or password reset) is refused here too.
    if (appKey === undefined || appKey.orgId !== verdict.key.orgId || appKey.disabledAt !== null) throw rekeyError('FORBIDDEN');
    return verdict.key.orgId;
  };
}
