/**
 * Setting and showing an organisation's upstream, shared by every way in: `rekey upstream set|show`
 * (src/cli/upstream-command.ts), `PUT|GET /api/v2/rekey/upstream` (src/server/routes/upstream-routes.ts)
 * and the UI's Upstream page (src/ui/routes/upstream-routes.ts). One place validates the site and
 * URLs, encrypts the key under the deployment secret and keeps what was not given — so the three
 * cannot drift apart on what they accept or store.
 */
import { rekeyError } from '../errors.js';
import type { Actor, OrgMode, Store, UpstreamSettings } from '../store/store.js';
import { UpstreamKeyCipher } from './upstream-crypto.js';
import { normaliseSite, normaliseUrl, upstreamUrls, type PayloadKind, type UpstreamUrls } from './upstream-site.js';

/** What a caller gives; anything left out keeps its stored value (the key included). */
export interface UpstreamChange {
  /** `relay` or `standalone`; any other text is refused (INVALID_UPSTREAM). */
  mode: string;
  /** A Datadog site or a base URL; required the first time. */
  site?: string | undefined;
  /** The upstream API key in clear; required the first time. Never stored, logged or returned. */
  apiKey?: string | undefined;
  /** Per-kind base URLs overriding what `site` gives. */
  urls?: Partial<Record<PayloadKind, string | undefined>>;
  /** Accept `http://` to another machine (the key would cross the network in clear). */
  allowInsecure?: boolean;
  /** How each field is named to this caller (`--site` for the CLI, `site` for the API), for messages. */
  names?: Partial<Record<'site' | 'apiKey' | PayloadKind, string>>;
}

/** What may be shown of an upstream: never the key, only its last 4 characters. */
export interface UpstreamView {
  org_id: string;
  mode: OrgMode;
  site: string;
  urls: UpstreamUrls;
  api_key_last4: string;
  updated_at: string;
}

const MODES: readonly OrgMode[] = ['relay', 'standalone'];

function isMode(mode: string): mode is OrgMode {
  return (MODES as readonly string[]).includes(mode);
}

/**
 * Validates the change (before anything is read or written: a refused change changes nothing),
 * encrypts a new key and stores the result, audited as `upstream.set` by the store.
 * Throws INVALID_UPSTREAM with what to fix.
 */
export async function saveUpstream(store: Store, orgId: string, change: UpstreamChange, actor: Actor): Promise<UpstreamSettings> {
  const names = { site: 'site', apiKey: 'api_key', metrics: 'metrics_url', logs: 'logs_url', traces: 'traces_url', ...change.names };
  if (!isMode(change.mode)) throw rekeyError('INVALID_UPSTREAM', { detail: `mode "${change.mode}" must be relay or standalone` });
  const mode = change.mode;
  const apiKey = change.apiKey;
  if (apiKey !== undefined && (apiKey === '' || /\s/.test(apiKey)))
    throw rekeyError('INVALID_UPSTREAM', { detail: `The upstream API key (${names.apiKey}) is empty or contains spaces` });
  const siteOptions = { allowInsecure: change.allowInsecure === true };
  const given = change.urls ?? {};
  const urls = {
    metrics: given.metrics === undefined ? null : normaliseUrl(given.metrics, names.metrics, siteOptions),
    logs: given.logs === undefined ? null : normaliseUrl(given.logs, names.logs, siteOptions),
    traces: given.traces === undefined ? null : normaliseUrl(given.traces, names.traces, siteOptions),
  };
  const givenSite = change.site === undefined ? undefined : normaliseSite(change.site, siteOptions);
  const existing = await store.getUpstream(orgId);
  const site = givenSite ?? existing?.site;
  if (site === undefined) throw rekeyError('INVALID_UPSTREAM', { detail: `Give ${names.site} (a Datadog site such as datadoghq.com, or a URL)` });
  if (apiKey === undefined && existing === undefined)
    throw rekeyError('INVALID_UPSTREAM', { detail: `Give the upstream API key (${names.apiKey}): this organisation has none yet` });
  const cipher = new UpstreamKeyCipher(await store.deploymentSecret());
  return store.setUpstream(
    orgId,
    {
      mode,
      site,
      urls:
        givenSite === undefined && existing !== undefined
          ? { metrics: urls.metrics ?? existing.urls.metrics, logs: urls.logs ?? existing.urls.logs, traces: urls.traces ?? existing.urls.traces }
          : urls,
      encryptedApiKey: apiKey === undefined ? existing!.encryptedApiKey : cipher.encrypt(orgId, apiKey),
      apiKeyLast4: apiKey === undefined ? existing!.apiKeyLast4 : apiKey.slice(-4),
    },
    actor,
  );
}

/** The settings as they may be shown (API, UI, `rekey upstream show --json`). */
export function upstreamView(settings: UpstreamSettings): UpstreamView {
  return {
    org_id: settings.orgId,
    mode: settings.mode,
    site: settings.site,
    urls: upstreamUrls(settings.site, settings.urls),
    api_key_last4: settings.apiKeyLast4,
    updated_at: settings.updatedAt.toISOString(),
  };
}
