/**
 * Where each kind of payload goes upstream. The Datadog Agent sends metrics, logs and traces to
 * three different hosts of a site; a site name gives all three, a URL (another rekey, a Vector
 * `datadog_agent` source, a test server) is used for every kind, and any kind can be given its
 * own URL.
 */
import { rekeyError } from '../errors.js';

export type PayloadKind = 'metrics' | 'logs' | 'traces';
export type UpstreamUrls = Record<PayloadKind, string>;

/**
 * Datadog's sites (docs.datadoghq.com/getting_started/site). A site name is accepted only from
 * this list: a typo (`datadoghq.con`) would otherwise be stored, and every payload would wait
 * in the spool for a host that does not exist. Anything else is given as a full URL.
 */
export const DATADOG_SITES = [
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
] as const;

export interface SiteOptions {
  /** Accept `http://` to a host other than this machine (the upstream key would cross the network in clear). */
  allowInsecure?: boolean;
}

/** Validates a site or base URL as given to `rekey upstream set --site`; returns it normalised. */
export function normaliseSite(site: string, options: SiteOptions = {}): string {
  const text = site.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return normaliseUrl(text, 'site', options);
  const lower = text.toLowerCase().replace(/\.$/, '');
  if ((DATADOG_SITES as readonly string[]).includes(lower)) return lower;
  const known = DATADOG_SITES.find((name) => lower.endsWith(`.${name}`));
  const hint = known === undefined ? '' : ` (for ${known}, give the site itself: the hosts of each kind are derived from it)`;
  throw rekeyError('INVALID_UPSTREAM', {
    detail: `"${site}" is not a Datadog site${hint}. Sites: ${DATADOG_SITES.join(', ')}; anything else (another rekey, a Vector datadog_agent source) is given as a full https:// URL`,
  });
}

/** True for URLs to this machine, where `http://` exposes nothing on the network. */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** An http(s) base URL without a trailing slash, query or credentials; `http://` only to this machine unless allowed. */
export function normaliseUrl(text: string, what: string, options: SiteOptions = {}): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw rekeyError('INVALID_UPSTREAM', { detail: `${what}: "${text}" is not a URL` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw rekeyError('INVALID_UPSTREAM', { detail: `${what}: only http and https URLs` });
  if (url.protocol === 'http:' && !options.allowInsecure && !isLoopback(url.hostname)) {
    throw rekeyError('INVALID_UPSTREAM', {
      detail: `${what}: "${url.origin}" is plain http: the upstream API key would cross the network in clear. Use https, or pass --allow-insecure (REKEY_UPSTREAM_ALLOW_INSECURE=1 for REKEY_UPSTREAM_SITE)`,
    });
  }
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
