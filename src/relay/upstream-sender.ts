/**
 * One POST of a spooled payload to its upstream, over keep-alive connections (one agent per
 * protocol, shared by every organisation). Returns the upstream's status, its Retry-After and
 * the start of its answer; throws on a network failure (refused, reset, timed out).
 */
import http from 'node:http';
import https from 'node:https';

export interface UpstreamAnswer {
  status: number;
  /** Retry-After in ms (seconds or an HTTP date), when the upstream sent one. */
  retryAfterMs: number | undefined;
  /** The first KiB of the answer, for dead letters and logs. */
  answer: string;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

interface Target {
  protocol: string;
  hostname: string;
  port: string;
  path: string;
  /** `user:password` of a URL that carries them, as Node's own URL-to-options sends it. */
  auth: string | undefined;
}

/**
 * Each URL parsed once: every payload of a path goes to the same URL, and parsing it (and
 * Node turning a URL into request options) for each was ~2 µs of the relay's ~140 µs per
 * payload (bench/profile-relay.ts). Bounded: cleared past 256 URLs (queries make more).
 */
const targets = new Map<string, Target>();

function targetOf(url: string): Target {
  let target = targets.get(url);
  if (target === undefined) {
    const parsed = new URL(url);
    // hostname of an IPv6 URL is bracketed ([::1]); the request options want it bare.
    target = {
      protocol: parsed.protocol,
      hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port,
      path: `${parsed.pathname}${parsed.search}`,
      auth: parsed.username || parsed.password ? `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}` : undefined,
    };
    if (targets.size >= 256) targets.clear();
    targets.set(url, target);
  }
  return target;
}

export function postUpstream(url: string, headers: Array<[string, string]>, body: Buffer, timeoutMs: number): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    const target = targetOf(url);
    const secure = target.protocol === 'https:';
    // An object, not Node's flat array form: with the array form Node sends no Host header.
    const outgoing: Record<string, string | string[]> = {};
    for (const [name, value] of headers) {
      const previous = outgoing[name];
      outgoing[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    outgoing['content-length'] = String(body.length);
    const request = (secure ? https : http).request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        ...(target.port === '' ? {} : { port: target.port }),
        path: target.path,
        ...(target.auth === undefined ? {} : { auth: target.auth }),
        method: 'POST',
        headers: outgoing,
        agent: secure ? agents.https : agents.http,
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept < 1024) chunks.push(chunk);
          kept += chunk.length;
        });
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            retryAfterMs: parseRetryAfter(response.headers['retry-after']),
            answer: Buffer.concat(chunks).subarray(0, 1024).toString('utf8'),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
