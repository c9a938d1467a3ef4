/**
 * The slice of the Datadog API that rotation uses, spoken over plain HTTP so it works the same
 * against rekey and against Datadog itself (`DD_SITE=datadoghq.com`).
 *
 * rekey-only extensions (`/api/v2/api_keys/{id}/hosts`, `/api/v2/api_keys/{id}/roll`) return
 * `undefined` on 404 so the caller can fall back to what Datadog offers.
 */
import { rekeyError } from '../errors.js';

export interface ApiKey {
  id: string;
  name: string;
  last4: string;
  createdAt: string | undefined;
  /** false for a revoked (rekey keeps revoked keys readable) or expired key. */
  active: boolean;
}

export interface KeyHostUsage {
  host: string;
  firstSeen: number;
  lastSeen: number;
  points: number;
}

export interface V1Host {
  name: string;
  aliases: string[];
  /** Epoch milliseconds. */
  lastReported: number;
}

export interface DatadogClientOptions {
  url: string;
  apiKey: string;
  appKey: string;
  timeoutMs?: number;
}

/** `datadoghq.com` → `https://api.datadoghq.com`; a full URL stays as it is. */
export function siteUrl(site: string): string {
  const trimmed = site.trim().replace(/\/+$/, '');
  if (/^https?:\/\//.test(trimmed)) return trimmed;
  return `https://api.${trimmed.replace(/^api\./, '')}`;
}

export class DatadogClient {
  readonly url: string;
  private apiKey: string;
  private readonly appKey: string;
  private readonly timeoutMs: number;

  constructor(options: DatadogClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.appKey = options.appKey;
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** After the key we authenticate with is revoked, management calls continue with the new one. */
  useApiKey(key: string): void {
    this.apiKey = key;
  }

  get currentApiKey(): string {
    return this.apiKey;
  }

  async listApiKeys(): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    for (let page = 0; page < 100; page++) {
      const body = await this.request('GET', `/api/v2/api_keys?page[size]=100&page[number]=${page}&sort=created_at`);
      const data = (body as { data?: unknown[] }).data ?? [];
      keys.push(...data.map(toApiKey));
      if (data.length < 100) break;
    }
    return keys;
  }

  async getApiKey(id: string): Promise<ApiKey | undefined> {
    const body = await this.request('GET', `/api/v2/api_keys/${encodeURIComponent(id)}`, undefined, [404]);
    return body === undefined ? undefined : toApiKey((body as { data: unknown }).data);
  }

  /** Creates a key; the result carries the key itself, shown only this once. */
  async createApiKey(name: string): Promise<ApiKey & { key: string }> {
    const body = await this.request('POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name } } });
    return withKey((body as { data: unknown }).data);
  }

  /**
   * rekey extension: a new key replacing `id`, which stays valid for `graceSeconds`.
   * undefined when the server has no roll endpoint (Datadog): create + revoke instead.
   */
  async rollApiKey(id: string, name: string, graceSeconds: number): Promise<(ApiKey & { key: string }) | undefined> {
    const body = await this.request(
      'POST',
      `/api/v2/api_keys/${encodeURIComponent(id)}/roll`,
      { data: { type: 'api_keys', attributes: { name, grace_period_seconds: graceSeconds } } },
      [404, 405],
    );
    if (body === undefined) return undefined;
    return withKey((body as { data: unknown }).data);
  }

  /** Revokes a key (DELETE). A key already gone counts as revoked. */
  async revokeApiKey(id: string): Promise<void> {
    await this.request('DELETE', `/api/v2/api_keys/${encodeURIComponent(id)}`, undefined, [404]);
  }

  /**
   * rekey extension: which hosts used key `id` (host, first/last seen, points).
   * undefined when the server has no such endpoint (Datadog).
   */
  async keyHosts(id: string): Promise<KeyHostUsage[] | undefined> {
    const body = await this.request('GET', `/api/v2/api_keys/${encodeURIComponent(id)}/hosts`, undefined, [404, 405]);
    if (body === undefined) return undefined;
    const data = ((body as { data?: unknown[] }).data ?? []) as Array<Record<string, unknown>>;
    return data.map((item) => {
      const attributes = (item['attributes'] ?? item) as Record<string, unknown>;
      return {
        host: String(attributes['host'] ?? attributes['hostname'] ?? item['id'] ?? ''),
        firstSeen: toMillis(attributes['first_seen']),
        lastSeen: toMillis(attributes['last_seen']),
        points: Number(attributes['points'] ?? 0),
      };
    });
  }

  /** `GET /api/v1/hosts`: the fallback view of which hosts reported and when. */
  async v1Hosts(): Promise<V1Host[]> {
    const hosts: V1Host[] = [];
    for (let start = 0; start < 100_000; start += 1000) {
      const body = (await this.request('GET', `/api/v1/hosts?start=${start}&count=1000`)) as { host_list?: Array<Record<string, unknown>> };
      const list = body.host_list ?? [];
      for (const host of list) {
        hosts.push({
          name: String(host['name'] ?? host['host_name'] ?? ''),
          aliases: Array.isArray(host['aliases']) ? (host['aliases'] as unknown[]).map(String) : [],
          lastReported: toMillis(host['last_reported_time']),
        });
      }
      if (list.length < 1000) break;
    }
    return hosts;
  }

  private async request(method: string, path: string, body?: unknown, allowMissing: number[] = []): Promise<unknown> {
    const label = `${method} ${path.split('?')[0]}`;
    // Idempotent reads are retried on network errors, 429 and 5xx; writes are not (a retried
    // POST could create a second key).
    const attempts = method === 'GET' ? 3 : 1;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.url}${path}`, {
          method,
          headers: {
            'DD-API-KEY': this.apiKey,
            'DD-APPLICATION-KEY': this.appKey,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        lastError = rekeyError('DATADOG_UNREACHABLE', { url: this.url, reason: (error as Error).message }, { cause: error });
        await sleep(250 * attempt);
        continue;
      }
      const text = await response.text();
      if (allowMissing.includes(response.status)) return undefined;
      if (response.ok) return text === '' ? {} : JSON.parse(text);
      const detail = errorDetail(text);
      lastError = rekeyError('DATADOG_API_FAILED', { request: label, status: response.status, detail });
      if (response.status !== 429 && response.status < 500) break;
      await sleep(250 * attempt);
    }
    throw lastError;
  }
}

function errorDetail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { errors?: unknown[] };
    if (Array.isArray(parsed.errors)) return parsed.errors.map(String).join('; ');
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 200) || 'no body';
}

function toApiKey(raw: unknown): ApiKey {
  const item = raw as { id: string; attributes?: Record<string, unknown> };
  const attributes = item.attributes ?? {};
  const status = attributes['status'];
  const revoked = attributes['revoked_at'] ?? attributes['date_revoked'];
  const expires = attributes['expires_at'];
  const expired = typeof expires === 'string' && Date.parse(expires) <= Date.now();
  return {
    id: String(item.id),
    name: String(attributes['name'] ?? ''),
    last4: String(attributes['last4'] ?? ''),
    createdAt: typeof attributes['created_at'] === 'string' ? attributes['created_at'] : undefined,
    active: (status === undefined || status === 'active') && !revoked && !expired,
  };
}

function withKey(raw: unknown): ApiKey & { key: string } {
  const key = (raw as { attributes?: { key?: unknown } }).attributes?.key;
  if (typeof key !== 'string' || key === '') {
    throw rekeyError('DATADOG_API_FAILED', { request: 'POST /api/v2/api_keys', status: 200, detail: 'the response carries no key' });
  }
  return { ...toApiKey(raw), key };
}

/** Accepts ISO strings, epoch seconds or epoch milliseconds. */
function toMillis(value: unknown): number {
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
    const numeric = Number(value);
    if (!Number.isNaN(numeric)) return numeric < 1e12 ? numeric * 1000 : numeric;
  }
  return 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
