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

/** Resolves with the HTTP status; rejects on a network error, a timeout or `signal`. */
export function httpPost(url: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<number> {
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
        response.resume(); // the body is not needed; drain it so the socket is reused
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
