/**
 * Delivers spooled payloads to each organisation's upstream, in order of arrival, a few at a
 * time per organisation, and decides from the upstream's answer:
 *
 *   2xx                      delivered: marked in the spool, never sent again;
 *   400, 404, 405, 413, 415, 422   refused for good: a dead letter (dead-letters.ts), marked;
 *   401, 403                 the upstream key is refused: the organisation's delivery holds
 *                            (nothing is dropped; `/healthz` says degraded, the
 *                            `rekey_relay_upstream_key_refused` gauge is 1) until its upstream
 *                            changes — `rekey upstream set` on any node — or, every
 *                            `keyRefusedRecheckMs`, one payload finds the key accepted again;
 *   429, 5xx, other, network failure   retried after Retry-After if the upstream sent one,
 *                            else after an exponential backoff (base × 2^failures, capped)
 *                            with full jitter over its upper half, so many nodes that lost
 *                            the same upstream do not return in step.
 *
 * Any change of the organisation's upstream (a new key or URL from `rekey upstream set` or
 * `rekey upstream rotate`) ends every wait at once — a key hold and a backoff alike — and a
 * 401/403 answered to a request sent with an older key than the current one holds nothing: it
 * says nothing about the new key.
 *
 * Besides a refused key, delivery is reported as a problem (`/healthz` degraded) once the
 * oldest payload waiting is older than `degradedAfterMs`: an upstream that has been unreachable
 * for long is something an operator must hear about before the spool fills.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { DeadLetters } from './dead-letters.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { RelaySpool } from './relay-spool.js';
import type { SpooledPayload } from './spool-record.js';
import type { UpstreamDirectory } from './upstream-directory.js';
import { postUpstream, type UpstreamAnswer } from './upstream-sender.js';

export interface DeliveryOptions {
  /** Payloads in flight per organisation (default 8). */
  concurrency?: number;
  /** Backoff after a failure: base and cap in ms (default 1000 and 60,000). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** While the upstream key is refused, try one payload this often (default 60,000 ms). */
  keyRefusedRecheckMs?: number;
  /** Per upstream request (default 30,000 ms). */
  timeoutMs?: number;
  /** Report a problem when the oldest undelivered payload is older than this (default 300,000 ms). */
  degradedAfterMs?: number;
  now?: () => number;
  random?: () => number;
}

const FOR_GOOD = new Set([400, 404, 405, 411, 413, 415, 422]);

interface OrgQueue {
  orgId: string;
  queue: SpooledPayload[];
  head: number;
  inFlight: number;
  /** Payloads answered 2xx (or dead-lettered) whose `delivered` mark is not written yet: they keep their slot. */
  marking: number;
  failures: number;
  holdUntil: number;
  /** The upstream version whose key was refused (401/403); undefined while not refused. */
  refusedVersion: string | undefined;
  /** Why delivery waits, for /healthz and logs; undefined while it flows. */
  reason: string | undefined;
  /** The upstream version last seen: when it changes, every wait ends. */
  version: string | undefined;
  /** Payloads sent and not yet answered (their age counts for the oldest undelivered). */
  sending: Set<SpooledPayload>;
  /** The last failed answer (status or network error), for the "oldest payload waits" problem. */
  lastFailure: string | undefined;
}

export class Delivery {
  private readonly orgs = new Map<string, OrgQueue>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly spool: RelaySpool,
    private readonly directory: UpstreamDirectory,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: RelayMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: DeliveryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    directory.onChange(() => this.pump());
    metrics.oldestPayloads(() => this.oldestAges());
  }

  enqueue(payload: SpooledPayload): void {
    let org = this.orgs.get(payload.orgId);
    if (org === undefined) {
      org = {
        orgId: payload.orgId,
        queue: [],
        head: 0,
        inFlight: 0,
        marking: 0,
        failures: 0,
        holdUntil: 0,
        refusedVersion: undefined,
        reason: undefined,
        version: undefined,
        sending: new Set(),
        lastFailure: undefined,
      };
      this.orgs.set(payload.orgId, org);
    }
    org.queue.push(payload);
    this.pump();
  }

  /** Organisations whose delivery waits on something an operator must fix (for /healthz). */
  problems(): string[] {
    const problems: string[] = [];
    const degradedAfterMs = this.options.degradedAfterMs ?? 300_000;
    const now = this.now();
    for (const org of this.orgs.values()) {
      const waiting = org.queue.length - org.head + org.sending.size;
      if (waiting === 0) continue;
      if (org.reason !== undefined) {
        problems.push(`relay: organization ${org.orgId}: ${org.reason}`);
        continue;
      }
      const oldest = this.oldestWaiting(org);
      if (oldest !== undefined && now - oldest > degradedAfterMs) {
        const why = org.lastFailure === undefined ? '' : ` (last answer: ${org.lastFailure})`;
        problems.push(
          `relay: organization ${org.orgId}: the oldest undelivered payload has waited ${Math.round((now - oldest) / 1000)} s, over ${Math.round(degradedAfterMs / 1000)} s${why}; ${waiting} payload(s) in the spool`,
        );
      }
    }
    return problems;
  }

  /** Each organisation's oldest undelivered payload's age in seconds (0 when none waits), for /metrics. */
  oldestAges(): Array<[string, number]> {
    const now = this.now();
    return [...this.orgs.values()].map((org) => {
      const oldest = this.oldestWaiting(org);
      return [org.orgId, oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000)];
    });
  }

  /** When the oldest payload still waiting (queued or in flight) was received. */
  private oldestWaiting(org: OrgQueue): number | undefined {
    let oldest = org.queue[org.head]?.receivedAt;
    for (const payload of org.sending) if (oldest === undefined || payload.receivedAt < oldest) oldest = payload.receivedAt;
    return oldest;
  }

  /** Stops sending; resolves when the requests in flight are answered (or after `waitMs`). */
  async close(waitMs = 5000): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  pump(): void {
    if (this.closed) return;
    const now = this.now();
    let wakeAt = Infinity;
    const concurrency = this.options.concurrency ?? 8;
    for (const org of this.orgs.values()) {
      const upstream = this.directory.get(org.orgId);
      if (upstream !== undefined && upstream.version !== org.version) {
        // A new key (or site) was set: whatever the old one made us wait for, try it at once.
        if (org.version !== undefined || org.refusedVersion !== undefined) {
          org.refusedVersion = undefined;
          org.reason = undefined;
          org.holdUntil = 0;
          org.failures = 0;
        }
        org.version = upstream.version;
      }
      if (upstream === undefined || upstream.apiKey === undefined) {
        org.reason = upstream === undefined ? 'no upstream is set; payloads wait in the spool' : 'the upstream key cannot be decrypted; set it again';
        this.metrics.setKeyRefused(org.orgId, upstream !== undefined);
        continue;
      }
      if (org.holdUntil > now) {
        wakeAt = Math.min(wakeAt, org.holdUntil);
        continue;
      }
      // While the key is refused, one payload at a time probes it. A payload answered but not yet
      // marked still holds its slot: what a crash can send twice stays within the concurrency.
      const limit = org.refusedVersion === undefined ? concurrency : 1;
      while (org.inFlight + org.marking < limit && org.head < org.queue.length) {
        const payload = org.queue[org.head++]!;
        this.send(org, payload, upstream.urls[payload.kind], upstream.apiKey, upstream.version);
      }
      if (org.head > 1024 && org.head * 2 > org.queue.length) {
        org.queue = org.queue.slice(org.head);
        org.head = 0;
      }
    }
    this.schedule(wakeAt);
  }

  private schedule(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
    this.timer.unref();
  }

  private send(org: OrgQueue, payload: SpooledPayload, base: string, apiKey: string, version: string): void {
    org.inFlight += 1;
    org.sending.add(payload);
    this.inFlight += 1;
    const started = this.now();
    postUpstream(base + payload.path, [...payload.headers, ['dd-api-key', apiKey]], payload.body, this.options.timeoutMs ?? 30_000).then(
      (answer) => this.answered(org, payload, answer, started, version),
      (error: unknown) =>
        this.answered(org, payload, { status: 0, retryAfterMs: undefined, answer: error instanceof Error ? error.message : String(error) }, started, version),
    );
  }

  private answered(org: OrgQueue, payload: SpooledPayload, answer: UpstreamAnswer, started: number, sentVersion: string): void {
    org.inFlight -= 1;
    org.sending.delete(payload);
    this.inFlight -= 1;
    const { status } = answer;
    this.metrics.forwarded(status, (this.now() - started) / 1000);
    const current = this.directory.get(org.orgId);
    if (status >= 200 && status < 300) {
      org.failures = 0;
      org.lastFailure = undefined;
      if (org.refusedVersion !== undefined) {
        this.log.info({ orgId: org.orgId }, 'relay: the upstream accepts the key again; delivery resumes');
        org.holdUntil = 0; // the hold was for the refused key, which works: no reason to wait
      }
      org.refusedVersion = undefined;
      org.reason = undefined;
      this.metrics.setKeyRefused(org.orgId, false);
      this.mark(org, payload);
    } else if (FOR_GOOD.has(status)) {
      this.log.warn(
        { orgId: org.orgId, path: payload.path, status, payloadId: payload.id },
        'relay: the upstream refused a payload for good; kept as a dead letter',
      );
      try {
        this.deadLetters.add(payload, status, answer.answer);
        this.metrics.deadLettered();
        this.mark(org, payload);
      } catch (error) {
        this.log.error({ err: error }, 'relay: a dead letter could not be written; the payload stays in the spool');
        this.retry(org, payload, undefined);
      }
    } else if ((status === 401 || status === 403) && current !== undefined && current.version !== sentVersion) {
      // Refused with a key that has been replaced meanwhile: it says nothing about the new one.
      this.putBack(org, payload);
    } else if (status === 401 || status === 403) {
      const upstream = current;
      if (org.refusedVersion === undefined)
        this.log.error(
          { orgId: org.orgId, status, last4: upstream?.apiKeyLast4 },
          'relay: the upstream refuses the upstream API key; delivery holds until a working key is set (rekey upstream set)',
        );
      org.refusedVersion = upstream?.version ?? 'none';
      org.reason = `the upstream refuses the upstream API key (…${upstream?.apiKeyLast4 ?? ''}, answer ${status}); set a working one with rekey upstream set`;
      this.metrics.setKeyRefused(org.orgId, true);
      this.putBack(org, payload);
      org.holdUntil = this.now() + (this.options.keyRefusedRecheckMs ?? 60_000);
    } else {
      org.lastFailure = status === 0 ? `no answer: ${answer.answer.slice(0, 200)}` : `HTTP ${status}`;
      if (org.failures === 0)
        this.log.warn(
          { orgId: org.orgId, status, answer: status === 0 ? answer.answer : undefined },
          'relay: the upstream did not take a payload; retrying with backoff',
        );
      this.retry(org, payload, answer.retryAfterMs);
    }
    if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    this.pump();
  }

  private retry(org: OrgQueue, payload: SpooledPayload, retryAfterMs: number | undefined): void {
    org.failures += 1;
    const base = this.options.backoffBaseMs ?? 1000;
    const cap = this.options.backoffMaxMs ?? 60_000;
    const ceiling = Math.min(cap, base * 2 ** Math.min(org.failures - 1, 30));
    const backoff = ceiling / 2 + (ceiling / 2) * this.random();
    const wait = retryAfterMs === undefined ? backoff : Math.min(Math.max(retryAfterMs, 0), 3600_000);
    org.holdUntil = Math.max(org.holdUntil, this.now() + wait);
    this.putBack(org, payload);
  }

  private putBack(org: OrgQueue, payload: SpooledPayload): void {
    if (org.head > 0) org.queue[--org.head] = payload;
    else org.queue.unshift(payload);
  }

  /**
   * Marks the payload delivered in the spool, written with the other marks of this event-loop
   * turn (relay-spool.ts); its slot is freed once that write was tried. A mark the disk refused
   * stays queued in the spool and goes with its next write: the payload is never sent again from
   * memory meanwhile, and a crash before would only send it again.
   */
  private mark(org: OrgQueue, payload: SpooledPayload): void {
    org.marking += 1;
    void this.spool.done(payload).then((written) => {
      org.marking -= 1;
      if (!written) this.log.warn('relay: delivered payloads could not be marked (disk full?); the marks are written with the next write');
      this.metrics.spool(this.spool.bytes, this.spool.count);
      this.pump();
    });
  }
}
