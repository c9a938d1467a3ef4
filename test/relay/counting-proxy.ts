/**
 * A counting proxy between a relay and its real upstream (issue 19, "exactly once"): it passes
 * every request on unchanged — method, path, headers, body bytes — and the upstream's answer
 * back unchanged, and counts, per body (by its SHA-256), how many times the upstream answered
 * it with a 2xx: a body counted twice was stored twice by whatever the upstream does with a
 * repeat. It alters nothing, so the data path stays real (relay → upstream rekey).
 *
 * `holdNextAnswer` reproduces the relay's one gap on purpose: the next 2xx the upstream gives
 * is held back from the relay until the test releases it — the test SIGKILLs the relay in that
 * window, so the upstream has stored the payload and the relay never wrote its mark.
 */
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers about this hop, not the message: never passed on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

export interface CountingProxy {
  url: string;
  /** 2xx answers per body (SHA-256 hex of the body as sent). */
  delivered: Map<string, number>;
  /** Requests passed on, whatever the answer. */
  requests: number;
  /** Bodies the upstream answered 2xx more than once, and the extra answers in all. */
  repeats(): { bodies: number; extra: number };
  /**
   * Holds back the next 2xx answer; resolves (with that body's hash) once the upstream has
   * answered it. The answer goes to the relay when `release` is called (if it still listens).
   */
  holdNextAnswer(): { answered: Promise<string>; release: () => void };
  close(): Promise<void>;
}

export function sha256(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex');
}

function passOn(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

export async function startCountingProxy(upstreamUrl: string): Promise<CountingProxy> {
  const upstream = new URL(upstreamUrl);
  let hold: { answered: (hash: string) => void; released: Promise<void> } | undefined;
  const proxy: CountingProxy = {
    url: '',
    delivered: new Map(),
    requests: 0,
    repeats() {
      let bodies = 0;
      let extra = 0;
      for (const count of this.delivered.values())
        if (count > 1) {
          bodies += 1;
          extra += count - 1;
        }
      return { bodies, extra };
    },
    holdNextAnswer() {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const answered = new Promise<string>((resolve) => (hold = { answered: resolve, released }));
      return { answered, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      proxy.requests += 1;
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...passOn(incoming.headers), 'content-length': String(body.length) },
        },
        (answer) => {
          const answerChunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => answerChunks.push(chunk));
          answer.on('end', () => {
            const status = answer.statusCode ?? 502;
            let released: Promise<void> = Promise.resolve();
            if (status >= 200 && status < 300) {
              const hash = sha256(body);
              proxy.delivered.set(hash, (proxy.delivered.get(hash) ?? 0) + 1);
              if (hold !== undefined) {
                released = hold.released;
                hold.answered(hash);
                hold = undefined;
              }
            }
            void released.then(() => {
              if (outgoing.destroyed) return; // the relay was killed meanwhile
              outgoing.writeHead(status, passOn(answer.headers));
              outgoing.end(Buffer.concat(answerChunks));
            });
          });
        },
      );
      forward.on('error', () => {
        if (!outgoing.headersSent) outgoing.writeHead(502);
        outgoing.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
