/**
 * Which of the agent's headers travel upstream with its payload. Kept: what describes the
 * payload and its sender — Content-Type, Content-Encoding, User-Agent, Accept and every
 * `DD-*`, `Datadog-*` and `X-Datadog-*` header (DD-Agent-Version, DD-EVP-ORIGIN,
 * Datadog-Meta-Lang…). Dropped: the agent's key (DD-API-KEY, DD-APPLICATION-KEY: the relay
 * sends its upstream key instead), and what belongs to the connection (Host, Content-Length,
 * Connection, Transfer-Encoding, proxies' X-Forwarded-*).
 */
import type { IncomingHttpHeaders } from 'node:http';

const KEPT = /^(content-type|content-encoding|user-agent|accept|dd-.*|datadog-.*|x-datadog-.*)$/;
const DROPPED = new Set(['dd-api-key', 'dd-application-key']);

export function forwardedHeaders(headers: IncomingHttpHeaders): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name) || !KEPT.test(name)) continue;
    for (const one of Array.isArray(value) ? value : [value]) kept.push([name, one]);
  }
  return kept;
}

/** The request's path and query, without `api_key` (a key in a URL is replaced like the header). */
export function forwardedPath(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  params.delete('api_key');
  const rest = params.toString();
  return rest === '' ? url.slice(0, query) : `${url.slice(0, query)}?${rest}`;
}
