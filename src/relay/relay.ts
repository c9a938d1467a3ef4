/**
 * Relay mode (issue 19, docs/relay.md): for an organisation in relay mode, the intake verifies
 * the agent's key as usual (from memory, with its rate limits) and then hands the request here
 * instead of decoding it. The body is read as sent (still compressed), spooled with the headers
 * that describe it (forwarded-headers.ts), and the agent gets its 202 once the spool has it
 * durably (relay-spool.ts: the payloads of one event-loop turn share one write()). Delivery to the upstream happens behind (delivery.ts), with the
 * upstream key the relay holds: the agents never hold it, so replacing it touches no agent.
 *
 * Spool full: 503 RELAY_SPOOL_FULL with Retry-After; disk failure: 503 INTAKE_STORAGE_FAILED
 * with Retry-After. Agents keep their data in both cases; nothing is dropped silently.
 */
import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { RekeyError, rekeyError } from '../errors.js';
import type { PayloadAdmission } from '../intake/intake-relay.js';
import { readBody } from '../intake/read-body.js';
import type { Store } from '../store/store.js';
import { DeadLetters } from './dead-letters.js';
import { Delivery, type DeliveryOptions } from './delivery.js';
import { forwardedHeaders, forwardedPath } from './forwarded-headers.js';
import { createRelayMetrics, type RelayMetrics } from './relay-metrics.js';
import { RECOVER_LOCK_FILE, RelaySpool } from './relay-spool.js';
import { newPayloadId, type SpooledPayload } from './spool-record.js';
import { UpstreamDirectory, newRelayNodeId, upstreamDefaultsFromEnv, type UpstreamDefaults } from './upstream-directory.js';
import { kindOfPath } from './upstream-site.js';

export const RELAY_SPOOL_DIR_NAME = 'relay-spool';
export const DEFAULT_SPOOL_BYTES = 256 * 1024 * 1024;
/** The largest body the relay takes: Datadog's own largest intake (traces) allows 25 MB (Agent default 3.2 MB for metrics). */
export const DEFAULT_RELAY_WIRE_BYTES = 25 * 1024 * 1024;
const STORAGE_RETRY_AFTER_SECONDS = 5;

export interface RelayOptions {
  store: Store;
  log: FastifyBaseLogger;
  spoolDir: string;
  spoolBytes?: number;
  /** fdatasync() each spooled payload (durability `power`). */
  sync?: boolean;
  defaults?: UpstreamDefaults;
  registry?: Registry;
  delivery?: DeliveryOptions;
  pollMs?: number;
  maxWireBytes?: number;
}

/**
 * Reads REKEY_RELAY_SPOOL_DIR, REKEY_RELAY_SPOOL_BYTES, REKEY_UPSTREAM_SITE, REKEY_UPSTREAM_API_KEY,
 * and the timing knobs REKEY_RELAY_POLL_MS (how often upstream settings are re-read, default
 * 2000), REKEY_RELAY_RETRY_MAX_MS (backoff cap, default 60,000), REKEY_RELAY_KEY_RECHECK_MS
 * (a refused upstream key is tried again this often, default 60,000) and
 * REKEY_RELAY_DEGRADED_AFTER_MS (`/healthz` says degraded once the oldest undelivered payload
 * is older than this, default 300,000).
 */
export function relaySettingsFromEnv(
  env: NodeJS.ProcessEnv,
  dataDir: string,
): Pick<RelayOptions, 'spoolDir' | 'spoolBytes' | 'defaults' | 'pollMs' | 'delivery'> {
  const bytesText = env.REKEY_RELAY_SPOOL_BYTES?.trim();
  let spoolBytes: number | undefined;
  if (bytesText) {
    spoolBytes = parseBytes(bytesText);
    if (spoolBytes === undefined) throw rekeyError('USAGE', { detail: `REKEY_RELAY_SPOOL_BYTES: "${bytesText}" is not a size (e.g. 268435456, 512MiB, 2GiB)` });
  }
  const pollMs = millis(env, 'REKEY_RELAY_POLL_MS');
  const backoffMaxMs = millis(env, 'REKEY_RELAY_RETRY_MAX_MS');
  const keyRefusedRecheckMs = millis(env, 'REKEY_RELAY_KEY_RECHECK_MS');
  const degradedAfterMs = millis(env, 'REKEY_RELAY_DEGRADED_AFTER_MS');
  return {
    spoolDir: env.REKEY_RELAY_SPOOL_DIR?.trim() || join(dataDir, RELAY_SPOOL_DIR_NAME),
    ...(spoolBytes === undefined ? {} : { spoolBytes }),
    ...(pollMs === undefined ? {} : { pollMs }),
    delivery: {
      ...(backoffMaxMs === undefined ? {} : { backoffMaxMs, backoffBaseMs: Math.min(1000, backoffMaxMs) }),
      ...(keyRefusedRecheckMs === undefined ? {} : { keyRefusedRecheckMs }),
      ...(degradedAfterMs === undefined ? {} : { degradedAfterMs }),
    },
    defaults: upstreamDefaultsFromEnv(env),
  };
}

function millis(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 10) throw rekeyError('USAGE', { detail: `${name}: "${text}" must be a number of milliseconds, at least 10` });
  return Number(text);
}

function parseBytes(text: string): number | undefined {
  const match = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text);
  if (!match) return undefined;
  const units: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
  const bytes = Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]!;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

export class Relay {
  private constructor(
    private readonly directory: UpstreamDirectory,
    private readonly spool: RelaySpool,
    private readonly delivery: Delivery,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: RelayMetrics,
    private readonly sweepTimer: NodeJS.Timeout,
    private readonly maxWireBytes: number,
  ) {}

  static async start(options: RelayOptions): Promise<Relay> {
    const nodeId = newRelayNodeId();
    const directory = new UpstreamDirectory(options.store, await options.store.deploymentSecret(), {
      ...(options.defaults === undefined ? {} : { defaults: options.defaults }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      onError: (error) => options.log.warn({ err: error }, 'relay: reading or reporting the upstreams failed; will retry'),
      nodeId,
    });
    await directory.start();
    // At info only where it matters — a node relaying for some organisation — so a standalone server's start stays quiet.
    options.log[directory.anyRelay() ? 'info' : 'debug'](
      { relayNodeId: nodeId },
      'relay: node id (rekey upstream rotate waits for each live node to confirm a new upstream key)',
    );
    const { spool, recovered } = RelaySpool.open(options.spoolDir, { maxBytes: options.spoolBytes ?? DEFAULT_SPOOL_BYTES, sync: options.sync ?? false });
    const metrics = createRelayMetrics(options.registry);
    const deadLetters = new DeadLetters(options.spoolDir);
    const delivery = new Delivery(spool, directory, deadLetters, metrics, options.log, options.delivery ?? {});
    if (recovered.payloads.length > 0 || recovered.tornRecords > 0) {
      options.log.info(
        { payloads: recovered.payloads.length, tornRecords: recovered.tornRecords },
        'relay: payloads an earlier run acknowledged are delivered now',
      );
    }
    if (recovered.recoveryHeldBy !== undefined) {
      // Normally another node starting on this spool at the same moment. A lock outliving its
      // holder under a reused pid would strand the payloads: the warning names it.
      options.log.warn(
        { pid: recovered.recoveryHeldBy, lock: join(options.spoolDir, RECOVER_LOCK_FILE) },
        'relay: another live process is recovering this spool, so this one recovered nothing; if that pid is not a rekey process, delete the lock file and restart',
      );
    }
    for (const { file, pid } of recovered.liveWriters) {
      options.log.warn(
        { file, writerPid: pid },
        'relay: a spool file names a running process, so it is left to that process, unread; if that pid is not a rekey node on this spool (a pid reused after a crash, a process of another container), the payloads in it wait as long as that pid runs: rename the file with the prefix moved- and restart',
      );
    }
    for (const payload of recovered.payloads) delivery.enqueue(payload);
    metrics.spool(spool.bytes, spool.count);
    deadLetters.sweep();
    const sweepTimer = setInterval(() => deadLetters.sweep(), 3600_000);
    sweepTimer.unref();
    return new Relay(directory, spool, delivery, deadLetters, metrics, sweepTimer, options.maxWireBytes ?? DEFAULT_RELAY_WIRE_BYTES);
  }

  active(): boolean {
    return this.directory.anyRelay();
  }

  /** True when the organisation's payloads are forwarded (relay mode), not stored. */
  handles(orgId: string): boolean {
    return this.directory.isRelay(orgId);
  }

  /** Why this node is degraded (an upstream key refused…); empty when all is well. */
  problems(): string[] {
    return this.delivery.problems();
  }

  /** One organisation's share of `problems()` (the UI's banner for its admins): each names its organisation first. */
  problemsOf(orgId: string): string[] {
    return this.problems().filter((problem) => problem.startsWith(`relay: organization ${orgId}: `));
  }

  get deadLetterCount(): number {
    return this.deadLetters.count();
  }

  /**
   * Reads the request's body as sent, spools it and answers the agent (202 once durable). Call
   * after the key was verified; the body must not have been read yet. `onSpooled` sees each
   * spooled payload once its 202 is on its way (the key's points are counted there:
   * forwarded-usage.ts), never before, so counting adds nothing to the agent's wait — except
   * for a key with a points/min limit, whose payload `admit` counts before it is spooled.
   */
  async accept(
    request: FastifyRequest,
    reply: FastifyReply,
    orgId: string,
    onBodyRead?: (wireBytes: number) => void,
    onSpooled?: (payload: SpooledPayload) => void,
    admit?: PayloadAdmission,
  ): Promise<FastifyReply> {
    let body: Buffer;
    try {
      body = await readBody(request.raw, this.maxWireBytes, 'payload');
      onBodyRead?.(body.length);
    } catch (error) {
      if (error instanceof RekeyError)
        return reply
          .code(error.status)
          .header('connection', 'close')
          .send({ errors: [error.message] });
      throw error;
    }
    const path = forwardedPath(request.url);
    if (path === undefined)
      return reply
        .code(404)
        .type('application/json')
        .serializer(JSON.stringify)
        .send({ errors: ['Not found: the relay forwards intake paths (/api/…, /intake/) only'] });
    const payload: SpooledPayload = {
      id: newPayloadId(),
      orgId,
      kind: kindOfPath(path),
      path,
      headers: forwardedHeaders(request.headers),
      receivedAt: Date.now(),
      body,
    };
    // A points-limited key's payload is counted first (intake-relay.ts): it may be refused.
    const admitted = admit === undefined ? undefined : await admit(payload);
    if (admitted === 'refused') return reply;
    try {
      await this.spool.accept(payload, this.directory.relayCount()); // with the payloads of this event-loop turn: one write()
    } catch (error) {
      admitted?.(false);
      if (error instanceof RekeyError && error.code === 'RELAY_SPOOL_FULL') {
        this.metrics.refused('spool_full');
        return reply
          .code(503)
          .header('retry-after', '10')
          .send({ errors: [error.message] });
      }
      this.metrics.refused('storage_failed');
      request.log.error({ err: error }, 'relay: a payload could not be spooled');
      const failed = rekeyError('INTAKE_STORAGE_FAILED', {
        reason: (error as NodeJS.ErrnoException).code ?? 'write failed',
        retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS,
      });
      return reply
        .code(503)
        .header('retry-after', String(STORAGE_RETRY_AFTER_SECONDS))
        .send({ errors: [failed.message] });
    }
    admitted?.(true);
    this.metrics.accepted();
    this.metrics.spool(this.spool.bytes, this.spool.count);
    this.delivery.enqueue(payload);
    if (onSpooled !== undefined) setImmediate(onSpooled, payload);
    // Datadog's answer for the path, not the local route's response schema (which would refuse
    // an answer it does not describe, e.g. `{}` for sketches, and turn a spooled 202 into a 503).
    return reply.code(202).type('application/json').serializer(JSON.stringify).send(acceptedAnswer(path));
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.directory.close();
    await this.delivery.close();
    this.spool.close();
  }
}

/** What Datadog answers on each path: v1 `{"status":"ok"}`, v2 series `{"errors":[]}`, else `{}`. */
function acceptedAnswer(path: string): Record<string, unknown> {
  if (path.startsWith('/api/v1/') || path.startsWith('/intake')) return { status: 'ok' };
  if (path.startsWith('/api/v2/series')) return { errors: [] };
  return {};
}
