/**
 * One POST to the intake with node:http/https and a keep-alive agent per protocol.
 *
 * Not `fetch`: loading undici costs ~12 MB of resident memory, a fifth of the agent's 60 MB
 * budget (bench/agent-resources.ts), for one request at a time per destination.
 */
import http from 'node:http';
import https from 'node:https';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 4 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 4 }),
};

/** The answer to one POST: its status and the start of its body (for error messages). */
export interface PostResult {
  status: number;
  /** At most MAX_ANSWER_BYTES of the body, as text. */
  body: string;
  /** The `Retry-After` header in seconds (a number of seconds or an HTTP date), null without one. */
  retryAfterSeconds: number | null;
}

function retryAfterSeconds(value: string | undefined): number | null {
  if (value === undefined || value.trim() === '') return null;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The intake's `{"errors":[…]}` fits easily; anything longer is cut, never buffered whole. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** Resolves with the status and body; rejects on a network error, a timeout or `signal`. */
export function httpPost(url: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<PostResult> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
  if (client === null) return Promise.reject(new Error(`unsupported URL scheme ${target.protocol}`));
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        agent: agents[target.protocol as 'http:' | 'https:'],
        headers: { ...headers, 'Content-Length': String(body.length) },
        timeout: timeoutMs,
        ...(signal ? { signal } : {}),
      },
      (response) => {
        // The body is read to its end (so the socket is reused) but only its start is kept.
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept >= MAX_ANSWER_BYTES) return;
          chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - kept));
          kept += Math.min(chunk.length, MAX_ANSWER_BYTES - kept);
        });
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            retryAfterSeconds: retryAfterSeconds(response.headers['retry-after']),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
