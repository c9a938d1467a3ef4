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

/**
 * The request's path and query as the upstream gets them, or undefined when it is no intake path.
 * Parsed, not copied: an absolute-form target (`POST http://evil.example/api/v2/series`) keeps only
 * its path, and dot segments (`/api/v2/../../x`, `%2e%2e`) are resolved here, so the path cannot
 * climb out of the upstream's base path once appended to it. Keys in the query (`api_key`,
 * `application_key`) are removed: the relay sends its upstream key instead, and an app key never
 * leaves.
 */
export function forwardedPath(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://relay.invalid');
  } catch {
    return undefined;
  }
  if (!/^\/(api|intake)(\/|$)/.test(parsed.pathname)) return undefined;
  parsed.searchParams.delete('api_key');
  parsed.searchParams.delete('application_key');
  const rest = parsed.searchParams.toString();
  return rest === '' ? parsed.pathname : `${parsed.pathname}?${rest}`;
}
