/**
 * A small intake for agent tests: records every payload the agent sends, answers what the
 * test says (202, 403 for keys it does not accept, 500, 429) or is down (not listening),
 * and stores points de-duplicated on (metric, tags, host, timestamp) like the real intake,
 * counting duplicates so a test can tell "stored exactly once" from "sent twice".
 *
 * A rate point (DogStatsD counters and `.count`, sent per second over a 10 s interval as the
 * Datadog Agent does) is stored as what it counts, value × interval — Datadog's
 * `.as_count()` — so a test adds up exactly the counts it sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

export interface RecordedRequest {
  path: string;
  /** Last 4 of the key, never the whole key. */
  keyLast4: string | null;
  payloadId: string | null;
  status: number;
  body: unknown;
}

interface SeriesJson {
  series: Array<{ metric: string; points: Array<[number, number]>; type?: string; interval?: number; host?: string; tags?: string[] }>;
}

export type IntakeMode = 'ok' | 'error500' | 'error429';

export class RecordingIntake {
  readonly requests: RecordedRequest[] = [];
  /** De-duplicated points: `metric|host|tags|ts` → value. */
  readonly points = new Map<string, number>();
  duplicatePoints = 0;
  /** Payload ids accepted (202) → how many times. */
  readonly acceptedPayloadIds = new Map<string, number>();
  mode: IntakeMode = 'ok';
  /**
   * When set, answers instead of the mode for a request with an accepted key: `{ status,
   * body }` (a 2xx still stores the payload), or null for the usual answer.
   */
  answer: ((path: string, body: unknown) => { status: number; body: unknown } | null) | null = null;
  /** When set, the next N accepted requests are stored but their connection is cut before the answer (a lost response). */
  loseResponses = 0;
  private readonly acceptedKeys = new Set<string>();
  private server: Server;
  private sockets = new Set<import('node:net').Socket>();
  port = 0;

  private constructor() {
    this.server = this.createServer();
  }

  static async start(acceptedKeys: string[]): Promise<RecordingIntake> {
    const intake = new RecordingIntake();
    for (const key of acceptedKeys) intake.acceptedKeys.add(key);
    await intake.listen(0);
    return intake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  accept(key: string): void {
    this.acceptedKeys.add(key);
  }

  revoke(key: string): void {
    this.acceptedKeys.delete(key);
  }

  private createServer(): Server {
    const server = createServer((request, response) => void this.handle(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stops listening and drops open connections: the agent sees connection refused. */
  async down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    const encoding = request.headers['content-encoding'];
    const key = (request.headers['dd-api-key'] as string | undefined) ?? null;
    const payloadId = (request.headers['x-rekey-payload-id'] as string | undefined) ?? null;
    const path = request.url ?? '';
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    let status: number;
    let body: unknown = null;
    try {
      raw = encoding === 'gzip' ? gunzipSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw;
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    if (this.mode === 'error500') status = 500;
    else if (this.mode === 'error429') status = 429;
    else if (key === null || !this.acceptedKeys.has(key)) status = 403;
    else status = body === undefined ? 400 : 202;
    const custom = status === 202 && this.answer !== null ? this.answer(path, body) : null;
    if (custom !== null) status = custom.status;
    this.requests.push({ path, keyLast4: key?.slice(-4) ?? null, payloadId, status, body });
    if (status >= 200 && status < 300 && this.loseResponses > 0) {
      this.loseResponses--;
      if (path === '/api/v1/series') this.store(body as SeriesJson);
      request.socket.destroy();
      return;
    }
    if (custom !== null) {
      if (status >= 200 && status < 300 && path === '/api/v1/series') this.store(body as SeriesJson);
      answer(status, custom.body);
    } else if (status === 202) {
      if (payloadId !== null) this.acceptedPayloadIds.set(payloadId, (this.acceptedPayloadIds.get(payloadId) ?? 0) + 1);
      if (path === '/api/v1/series') this.store(body as SeriesJson);
      answer(202, { status: 'ok' });
    } else if (status === 403) answer(403, { errors: ['Forbidden'] });
    else answer(status, { errors: [`status ${status}`] });
  }

  private store(payload: SeriesJson): void {
    for (const series of payload.series) {
      const perPoint = series.type === 'rate' ? (series.interval ?? 1) : 1;
      for (const [ts, sent] of series.points) {
        // Rounded: 0.1 × 10 must read back as the 1 that was counted.
        const value = perPoint === 1 ? sent : Math.round(sent * perPoint * 1e9) / 1e9;
        const id = `${series.metric}|${series.host ?? ''}|${[...(series.tags ?? [])].sort().join(',')}|${ts}`;
        if (this.points.has(id)) this.duplicatePoints++;
        this.points.set(id, value);
      }
    }
  }

  /** Sum of the stored (de-duplicated) points of `metric` (rates as counts), optionally only with `tag`. */
  sum(metric: string, tag?: string): number {
    let total = 0;
    for (const [id, value] of this.points) {
      const [name, , tags] = id.split('|');
      if (name === metric && (tag === undefined || tags!.split(',').includes(tag))) total += value;
    }
    return total;
  }

  /** The stored points of `metric`: timestamp → value. */
  series(metric: string): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, value] of this.points) {
      const parts = id.split('|');
      if (parts[0] === metric) out.set(Number(parts[3]), value);
    }
    return out;
  }

  /** Payload ids accepted more than once (a redelivery). */
  payloadsAcceptedTwice(): string[] {
    return [...this.acceptedPayloadIds].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/** Polls `check` every 100 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
