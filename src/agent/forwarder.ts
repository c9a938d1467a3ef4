/**
 * Ships queued payloads to the intake and every additional endpoint, one delivery loop per
 * destination so a dead secondary endpoint never holds back the primary one.
 *
 * Unlike the Datadog Agent, a 403 is retried like an outage: the payload stays on disk, the
 * agent re-reads its config (`onForbidden`), and when the key changes `keyChanged()` cuts the
 * backoff short so everything queued goes out with the new key at once.
 *
 * Outcomes per attempt:
 * - 2xx: delete the payload, reset the backoff.
 * - 403, 408, 429, 5xx, network error, timeout: keep it, back off (1 s … 64 s, jitter);
 *   a 408/429/5xx with `Retry-After` waits at least that long (at most MAX_RETRY_AFTER_MS).
 * - any other 4xx (400, 413…): the payload itself is bad and can never succeed; log what the
 *   intake said was wrong (its `errors`, never the key), then delete it and count it as
 *   dropped, so it cannot block the queue forever. The agent enforces the intake's
 *   per-series limits before queueing (series-limits.ts), so this should not happen.
 * - a 2xx whose body lists per-series `errors` (an intake that stores the valid series of a
 *   payload and refuses the rest): the payload is done; the errors are logged and counted.
 */
import type { DiskQueue, QueueEntry } from './disk-queue.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { httpPost, type PostResult } from './http-post.js';
import type { Logger } from './logger.js';

/** A Retry-After longer than this (a misconfigured or hostile server) is not waited out in full. */
const MAX_RETRY_AFTER_MS = 300_000;

export interface Destination {
  /** Stable id used in queue file names: `main` or `ae-<hash>`. */
  id: string;
  /** Base URL, e.g. `https://api.datadoghq.com`. */
  url: string;
  /** The key to send with, read at send time so a new key applies to old payloads. */
  apiKey: () => string | null;
}

export type KeyState = 'unknown' | 'accepted' | 'rejected' | 'missing';

export interface DestinationStatus {
  id: string;
  url: string;
  keyLast4: string | null;
  keyState: KeyState;
  lastSuccessAt: string | null;
  lastError: string | null;
  queued: number;
  sent: number;
  errored: number;
  dropped: number;
  /** 2xx answers that listed errors for some of the payload's series. */
  partiallyRejected: number;
  retryInMs: number;
}

export interface ForwarderOptions {
  queue: DiskQueue;
  backoff: BackoffOptions;
  logger: Logger;
  /** Called on a 403 (rate-limited by the backoff): re-read the config. */
  onForbidden?: () => void;
  requestTimeoutMs?: number;
  userAgent: string;
}

export class Forwarder {
  private readonly senders = new Map<string, Sender>();
  private stopping = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ForwarderOptions) {
    this.unsubscribe = options.queue.onEnqueue(() => {
      for (const sender of this.senders.values()) sender.kick();
    });
  }

  /** Starts, keeps or stops delivery loops so they match `destinations`. */
  setDestinations(destinations: Destination[]): void {
    const wanted = new Set(destinations.map((d) => d.id));
    for (const [id, sender] of this.senders) {
      if (!wanted.has(id)) {
        sender.stop();
        this.senders.delete(id);
      }
    }
    for (const destination of destinations) {
      const existing = this.senders.get(destination.id);
      if (existing) existing.destination = destination;
      else {
        const sender = new Sender(destination, this.options);
        this.senders.set(destination.id, sender);
        if (!this.stopping) void sender.run();
      }
    }
  }

  /** The key may have changed: retry every destination now instead of after the backoff. */
  keyChanged(): void {
    for (const sender of this.senders.values()) sender.retryNow();
  }

  destinationIds(): string[] {
    return [...this.senders.keys()];
  }

  status(): DestinationStatus[] {
    return [...this.senders.values()].map((sender) => sender.status());
  }

  /**
   * Delivers for at most `timeoutMs` more, then stops every loop. What is not delivered stays
   * on disk for the next start.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    for (const sender of this.senders.values()) sender.drainUntil(deadline);
    await Promise.all([...this.senders.values()].map((sender) => sender.finished));
    this.unsubscribe();
  }
}

class Sender {
  private readonly backoff: Backoff;
  private keyState: KeyState = 'unknown';
  private lastSuccessAt: Date | null = null;
  private lastError: string | null = null;
  private sent = 0;
  private errored = 0;
  private dropped = 0;
  private partiallyRejected = 0;
  private stopped = false;
  private deadline = Infinity;
  private retryAt = 0;
  /** The last 408/429/5xx answer's Retry-After, in ms: the next wait is at least this. */
  private retryAfterMs = 0;
  private wake: (() => void) | null = null;
  private abort = new AbortController();
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));

  constructor(
    public destination: Destination,
    private readonly options: ForwarderOptions,
  ) {
    this.backoff = new Backoff(options.backoff);
  }

  kick(): void {
    // New payloads do not cut a backoff short: only an idle loop wakes up.
    if (this.retryAt === 0) this.wake?.();
  }

  retryNow(): void {
    this.backoff.reset();
    this.retryAt = 0;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
  }

  drainUntil(deadline: number): void {
    this.deadline = deadline;
    this.wake?.();
    const remaining = deadline - Date.now();
    setTimeout(() => this.stop(), Math.max(0, remaining)).unref();
  }

  status(): DestinationStatus {
    const key = this.destination.apiKey();
    return {
      id: this.destination.id,
      url: displayUrl(this.destination.url),
      keyLast4: key === null ? null : key.slice(-4),
      keyState: key === null ? 'missing' : this.keyState,
      lastSuccessAt: this.lastSuccessAt?.toISOString() ?? null,
      lastError: this.lastError,
      queued: this.options.queue.depthFor(this.destination.id),
      sent: this.sent,
      errored: this.errored,
      dropped: this.dropped,
      partiallyRejected: this.partiallyRejected,
      retryInMs: Math.max(0, this.retryAt - Date.now()),
    };
  }

  async run(): Promise<void> {
    try {
      while (!this.stopped) {
        const draining = this.deadline !== Infinity;
        const entry = this.options.queue.oldest(this.destination.id);
        if (entry === undefined) {
          if (draining) break;
          await this.sleep(Infinity);
          continue;
        }
        const key = this.destination.apiKey();
        if (key === null) {
          this.fail('no api_key configured');
          this.options.onForbidden?.();
          await this.sleep(this.backoff.next());
          continue;
        }
        const ok = await this.deliver(entry, key);
        if (!ok) {
          // The intake's Retry-After (a rate limit, a storage outage) is a floor under the backoff.
          const wait = Math.max(this.backoff.next(), this.retryAfterMs);
          this.retryAfterMs = 0;
          await this.sleep(wait);
        }
      }
    } finally {
      this.resolveFinished();
    }
  }

  /** One attempt; true when the loop may go straight on to the next payload. */
  private async deliver(entry: QueueEntry, key: string): Promise<boolean> {
    const queue = this.options.queue;
    const payload = await queue.read(entry);
    if (payload === undefined) return true;
    let answer: PostResult;
    try {
      answer = await httpPost(
        this.destination.url + payload.path,
        {
          'Content-Type': payload.contentType,
          'Content-Encoding': payload.encoding,
          'DD-API-KEY': key,
          'User-Agent': this.options.userAgent,
          'X-Rekey-Payload-Id': payload.id,
        },
        payload.body,
        this.options.requestTimeoutMs ?? 10_000,
        this.abort.signal,
      );
    } catch (error) {
      this.fail(`network error: ${(error as Error).message}`);
      return false;
    }
    const status = answer.status;
    if (status >= 200 && status < 300) {
      // Counted before the (async) delete, so "queue empty" never shows an old `sent`.
      this.sent++;
      this.keyState = 'accepted';
      this.lastSuccessAt = new Date();
      this.lastError = null;
      this.backoff.reset();
      this.retryAt = 0;
      const errors = intakeErrors(answer.body, key);
      if (errors.length > 0) {
        this.partiallyRejected++;
        this.options.logger.warn(
          { destination: this.destination.id, status, payload: payload.id, path: payload.path, errors },
          `intake accepted payload ${payload.id} but refused part of it: ${errors.join('; ')}`,
        );
      }
      await queue.remove(entry);
      return true;
    }
    if (status === 403) {
      this.keyState = 'rejected';
      this.fail(`intake answered 403: the api_key ending in ${key.slice(-4)} is not accepted; payloads are kept until the key is changed`);
      this.options.onForbidden?.();
      return false;
    }
    if (status === 408 || status === 429 || status >= 500) {
      this.retryAfterMs = Math.min((answer.retryAfterSeconds ?? 0) * 1000, MAX_RETRY_AFTER_MS);
      this.fail(`intake answered ${status}${answer.retryAfterSeconds === null ? '' : ` (retry after ${answer.retryAfterSeconds} s)`}`);
      return false;
    }
    // The payload is unacceptable whatever the key: drop it so it cannot block the queue,
    // after saying what the intake found wrong.
    const errors = intakeErrors(answer.body, key);
    const why = errors.length > 0 ? errors.join('; ') : 'no reason given';
    this.dropped++;
    this.lastError = `intake answered ${status}; payload ${payload.id} (${payload.path}) dropped: ${why}`;
    this.options.logger.warn({ destination: this.destination.id, status, payload: payload.id, path: payload.path, errors }, this.lastError);
    await queue.remove(entry);
    return true;
  }

  private fail(reason: string): void {
    this.errored++;
    if (reason !== this.lastError) this.options.logger.warn({ destination: this.destination.id, url: displayUrl(this.destination.url) }, reason);
    this.lastError = reason;
  }

  /** Sleeps `ms` (capped by the drain deadline), woken early by kick/retryNow/stop. */
  private sleep(ms: number): Promise<void> {
    const until = Math.min(ms === Infinity ? Infinity : Date.now() + ms, this.deadline);
    if (until !== Infinity && ms !== Infinity) this.retryAt = until;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wake = null;
        this.retryAt = 0;
        resolve();
      };
      this.wake = done;
      if (until !== Infinity) timer = setTimeout(done, Math.max(0, until - Date.now()));
    });
  }
}

/**
 * The `errors` of an intake answer (`{"errors":["…"]}`, Datadog's shape), each cut to 500
 * characters, at most 20; a non-JSON answer gives its first 200 characters. The key is
 * masked should an intake ever echo it.
 */
export function intakeErrors(body: string, key: string): string[] {
  if (body.trim() === '') return [];
  let list: string[];
  try {
    const parsed = JSON.parse(body) as { errors?: unknown };
    const errors = parsed?.errors;
    if (!Array.isArray(errors)) return [];
    list = errors.slice(0, 20).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)).slice(0, 500));
  } catch {
    list = [body.slice(0, 200)];
  }
  return key.length > 0 ? list.map((e) => e.split(key).join(`…${key.slice(-4)}`)) : list;
}

/**
 * An intake URL as logs and the status show it: no user, password, query or fragment, which
 * is where a careless `dd_url: https://host/?api_key=…` or `https://user:secret@proxy` keeps
 * a secret.
 */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    const hidden = [u.username || u.password ? 'credentials' : '', u.search || u.hash ? 'query' : ''].filter(Boolean);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}${hidden.length > 0 ? ` (${hidden.join(' and ')} hidden)` : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
