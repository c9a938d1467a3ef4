/**
 * Where each kind of payload goes upstream. The Datadog Agent sends metrics, logs and traces to
 * three different hosts of a site; a site name gives all three, a URL (another rekey, a Vector
 * `datadog_agent` source, a test server) is used for every kind, and any kind can be given its
 * own URL.
 */
import { rekeyError } from '../errors.js';

export type PayloadKind = 'metrics' | 'logs' | 'traces';
export type UpstreamUrls = Record<PayloadKind, string>;

const SITE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/** Validates a site or base URL as given to `rekey upstream set --site`; returns it normalised. */
export function normaliseSite(site: string): string {
  const text = site.trim();
  if (/^https?:\/\//i.test(text)) return normaliseUrl(text, 'site');
  const lower = text.toLowerCase();
  if (!SITE.test(lower)) throw rekeyError('INVALID_UPSTREAM', { detail: `"${site}" is neither a Datadog site (e.g. datadoghq.com, datadoghq.eu, us3.datadoghq.com) nor an http(s) URL` });
  return lower;
}

/** An http(s) base URL without a trailing slash, query or credentials. */
export function normaliseUrl(text: string, what: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw rekeyError('INVALID_UPSTREAM', { detail: `${what}: "${text}" is not a URL` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw rekeyError('INVALID_UPSTREAM', { detail: `${what}: only http and https URLs` });
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw rekeyError('INVALID_UPSTREAM', { detail: `${what}: no credentials, query or fragment in the URL (the upstream key is set with --key-stdin)` });
  }
  return url.toString().replace(/\/+$/, '');
}

/** Datadog's hosts for `site`, or `site` itself for every kind when it is a URL; `overrides` win. */
export function upstreamUrls(site: string, overrides: Partial<Record<PayloadKind, string | null>> = {}): UpstreamUrls {
  const isUrl = /^https?:\/\//i.test(site);
  const base: UpstreamUrls = isUrl
    ? { metrics: site, logs: site, traces: site }
    : { metrics: `https://api.${site}`, logs: `https://http-intake.logs.${site}`, traces: `https://trace.agent.${site}` };
  return {
    metrics: overrides.metrics ?? base.metrics,
    logs: overrides.logs ?? base.logs,
    traces: overrides.traces ?? base.traces,
  };
}

/** The kind of an intake path: logs (`/api/v2/logs`, `/v1/input`), traces (`/api/v0.2/…`), else metrics. */
export function kindOfPath(path: string): PayloadKind {
  if (path.startsWith('/api/v2/logs') || path.startsWith('/v1/input')) return 'logs';
  if (/^\/api\/v0\.\d\//.test(path)) return 'traces';
  return 'metrics';
}
