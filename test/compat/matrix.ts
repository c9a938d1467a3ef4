/**
 * The compatibility matrix: every Datadog endpoint and foreign-client call rekey is measured
 * against, and what the compat tests (test/compat/*.test.ts) found — `works`, `differs` (and
 * how), or `missing`. docs/compatibility.md is rendered from it (scripts/gen-compatibility.ts),
 * and test/compat/matrix.test.ts fails when the document is stale or when a row has no test.
 *
 * Every row is asserted by exactly the test named after it (`compatCase(id, fn)`): a `works`
 * row's test drives the call and checks the answer, a `differs` row's test checks the
 * documented difference, a `missing` row's test checks the 404. So a change in behaviour fails
 * a test until the row (and the document) say what is true now.
 */
import { it } from 'node:test';

export type Client = 'official' | 'zorkian' | 'http';
export type Status = 'works' | 'differs' | 'missing';

export interface Row {
  /** Unique; the test's name starts with it. */
  id: string;
  client: Client;
  /** The client's call (`v1.KeyManagementApi.createAPIKey`, `CreateAPIKey`) or, for http, the request. */
  call: string;
  endpoint: string;
  status: Status;
  /** How it differs from Datadog, or what is missing; '' when it works. */
  note: string;
}

const KEY_AS_ID =
  'the key is shown only in the creating answer; elsewhere the key field holds the key id, and paths accept the key or the id (Datadog shows the key everywhere and uses it as the id)';

export const MATRIX: readonly Row[] = [
  // ---- v1 API keys ----
  {
    id: 'official-v1-create-api-key',
    client: 'official',
    call: 'v1.KeyManagementApi.createAPIKey',
    endpoint: 'POST /api/v1/api_key',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-list-api-keys',
    client: 'official',
    call: 'v1.KeyManagementApi.listAPIKeys',
    endpoint: 'GET /api/v1/api_key',
    status: 'differs',
    note: KEY_AS_ID,
  },
  {
    id: 'official-v1-get-api-key',
    client: 'official',
    call: 'v1.KeyManagementApi.getAPIKey',
    endpoint: 'GET /api/v1/api_key/{key}',
    status: 'differs',
    note: KEY_AS_ID,
  },
  {
    id: 'official-v1-update-api-key',
    client: 'official',
    call: 'v1.KeyManagementApi.updateAPIKey',
    endpoint: 'PUT /api/v1/api_key/{key}',
    status: 'differs',
    note: KEY_AS_ID,
  },
  {
    id: 'official-v1-delete-api-key',
    client: 'official',
    call: 'v1.KeyManagementApi.deleteAPIKey',
    endpoint: 'DELETE /api/v1/api_key/{key}',
    status: 'differs',
    note: KEY_AS_ID,
  },
  {
    id: 'official-v1-delete-last-api-key',
    client: 'official',
    call: 'v1.KeyManagementApi.deleteAPIKey (last key)',
    endpoint: 'DELETE /api/v1/api_key/{key}',
    status: 'works',
    note: '',
  },
  { id: 'zorkian-create-api-key', client: 'zorkian', call: 'CreateAPIKey', endpoint: 'POST /api/v1/api_key', status: 'works', note: '' },
  { id: 'zorkian-get-api-keys', client: 'zorkian', call: 'GetAPIKeys', endpoint: 'GET /api/v1/api_key', status: 'differs', note: KEY_AS_ID },
  { id: 'zorkian-get-api-key', client: 'zorkian', call: 'GetAPIKey', endpoint: 'GET /api/v1/api_key/{key}', status: 'differs', note: KEY_AS_ID },
  { id: 'zorkian-update-api-key', client: 'zorkian', call: 'UpdateAPIKey', endpoint: 'PUT /api/v1/api_key/{key}', status: 'differs', note: KEY_AS_ID },
  { id: 'zorkian-delete-api-key', client: 'zorkian', call: 'DeleteAPIKey', endpoint: 'DELETE /api/v1/api_key/{key}', status: 'differs', note: KEY_AS_ID },
  // ---- v1 application keys ----
  {
    id: 'official-v1-create-app-key',
    client: 'official',
    call: 'v1.KeyManagementApi.createApplicationKey',
    endpoint: 'POST /api/v1/application_key',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-list-app-keys',
    client: 'official',
    call: 'v1.KeyManagementApi.listApplicationKeys',
    endpoint: 'GET /api/v1/application_key',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'official-v1-get-app-key',
    client: 'official',
    call: 'v1.KeyManagementApi.getApplicationKey',
    endpoint: 'GET /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'official-v1-update-app-key',
    client: 'official',
    call: 'v1.KeyManagementApi.updateApplicationKey',
    endpoint: 'PUT /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'official-v1-delete-app-key',
    client: 'official',
    call: 'v1.KeyManagementApi.deleteApplicationKey',
    endpoint: 'DELETE /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  { id: 'zorkian-create-app-key', client: 'zorkian', call: 'CreateAPPKey', endpoint: 'POST /api/v1/application_key', status: 'works', note: '' },
  {
    id: 'zorkian-get-app-keys',
    client: 'zorkian',
    call: 'GetAPPKeys',
    endpoint: 'GET /api/v1/application_key',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'zorkian-get-app-key',
    client: 'zorkian',
    call: 'GetAPPKey',
    endpoint: 'GET /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'zorkian-update-app-key',
    client: 'zorkian',
    call: 'UpdateAPPKey',
    endpoint: 'PUT /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  {
    id: 'zorkian-delete-app-key',
    client: 'zorkian',
    call: 'DeleteAPPKey',
    endpoint: 'DELETE /api/v1/application_key/{key}',
    status: 'differs',
    note: KEY_AS_ID.replace('key field', 'hash field'),
  },
  { id: 'zorkian-validate', client: 'zorkian', call: 'Validate', endpoint: 'GET /api/v1/validate', status: 'works', note: '' },
  // ---- metrics, hosts, checks, search, validate ----
  { id: 'official-v1-submit-metrics', client: 'official', call: 'v1.MetricsApi.submitMetrics', endpoint: 'POST /api/v1/series', status: 'works', note: '' },
  {
    id: 'official-v1-query-metrics',
    client: 'official',
    call: 'v1.MetricsApi.queryMetrics',
    endpoint: 'GET /api/v1/query',
    status: 'differs',
    note: 'no default rollup (points come back at their own timestamps unless .rollup() is given); arithmetic uses the timestamps both sides have (Datadog interpolates); unit is null; functions other than .as_count/.as_rate/.rollup/.fill are refused (400)',
  },
  {
    id: 'http-v1-query-keys-in-query',
    client: 'http',
    call: 'GET ?api_key=…&application_key=…',
    endpoint: 'GET /api/v1/query (any /api/v1/ management route)',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-list-active-metrics',
    client: 'official',
    call: 'v1.MetricsApi.listActiveMetrics',
    endpoint: 'GET /api/v1/metrics',
    status: 'differs',
    note: 'host and tag_filter do not narrow the list',
  },
  { id: 'official-v1-search-metrics', client: 'official', call: 'v1.MetricsApi.listMetrics', endpoint: 'GET /api/v1/search', status: 'works', note: '' },
  {
    id: 'official-v1-list-hosts',
    client: 'official',
    call: 'v1.HostsApi.listHosts',
    endpoint: 'GET /api/v1/hosts',
    status: 'differs',
    note: 'sort_field is name or last_reported_time only (others 400); apps is ["agent"] or ["api"], not the integrations; tags_by_source is empty; mute is not kept',
  },
  { id: 'official-v1-host-totals', client: 'official', call: 'v1.HostsApi.getHostTotals', endpoint: 'GET /api/v1/hosts/totals', status: 'works', note: '' },
  {
    id: 'official-v1-submit-service-check',
    client: 'official',
    call: 'v1.ServiceChecksApi.submitServiceCheck',
    endpoint: 'POST /api/v1/check_run',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-submit-distribution-points',
    client: 'official',
    call: 'v1.MetricsApi.submitDistributionPoints',
    endpoint: 'POST /api/v1/distribution_points',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-get-metric-metadata',
    client: 'official',
    call: 'v1.MetricsApi.getMetricMetadata',
    endpoint: 'GET /api/v1/metrics/{metric_name}',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v1-update-metric-metadata',
    client: 'official',
    call: 'v1.MetricsApi.updateMetricMetadata',
    endpoint: 'PUT /api/v1/metrics/{metric_name}',
    status: 'differs',
    note: "unit and per_unit are kept as given, not checked against Datadog's list of units; type is one of gauge, rate, count, distribution",
  },
  {
    id: 'official-v2-validate-keys',
    client: 'official',
    call: 'v2.KeyManagementApi.validateAPIKey',
    endpoint: 'GET /api/v2/validate_keys',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v2-validate',
    client: 'official',
    call: 'v2.KeyManagementApi.validate (unstable)',
    endpoint: 'GET /api/v2/validate',
    status: 'differs',
    note: 'api_key_scopes is always empty (rekey API keys have no scopes)',
  },
  {
    id: 'official-v2-api-key-remote-config',
    client: 'official',
    call: 'v2.KeyManagementApi.createAPIKey / updateAPIKey / listAPIKeys (remote_config_read_enabled)',
    endpoint: 'POST, PATCH, GET /api/v2/api_keys',
    status: 'works',
    note: '',
  },
  {
    id: 'official-v2-api-key-category',
    client: 'official',
    call: 'v2.KeyManagementApi.createAPIKey / updateAPIKey / listAPIKeys (category)',
    endpoint: 'POST, PATCH, GET /api/v2/api_keys',
    status: 'differs',
    note: 'Datadog documents the category attribute and filter[category] but no list of categories: rekey keeps any label of 1–100 printable characters ("default" unless set, as Datadog shows) and filters by exact match',
  },
  {
    id: 'official-v2-app-key-scopes',
    client: 'official',
    call: 'v2.KeyManagementApi.createCurrentUserApplicationKey / updateCurrentUserApplicationKey (scopes)',
    endpoint: 'POST, PATCH /api/v2/current_user/application_keys',
    status: 'differs',
    note: "only the Datadog scopes of what rekey serves are accepted (api_keys_*, org_app_keys_*, user_app_keys, audit_logs_read, user_access_*, hosts_read, timeseries_query, events_read, metrics_metadata_write); any other name, Datadog's own included (dashboards_read), is 400 UNKNOWN_SCOPE naming it",
  },
  { id: 'zorkian-post-metrics', client: 'zorkian', call: 'PostMetrics', endpoint: 'POST /api/v1/series', status: 'works', note: '' },
  { id: 'zorkian-query-metrics', client: 'zorkian', call: 'QueryMetrics', endpoint: 'GET /api/v1/query', status: 'works', note: '' },
  { id: 'zorkian-post-check', client: 'zorkian', call: 'PostCheck', endpoint: 'POST /api/v1/check_run', status: 'works', note: '' },
  { id: 'zorkian-search-hosts', client: 'zorkian', call: 'SearchHosts', endpoint: 'GET /api/v1/search', status: 'works', note: '' },
  { id: 'zorkian-search-metrics', client: 'zorkian', call: 'SearchMetrics', endpoint: 'GET /api/v1/search', status: 'works', note: '' },
  { id: 'zorkian-get-host-totals', client: 'zorkian', call: 'GetHostTotals', endpoint: 'GET /api/v1/hosts/totals', status: 'works', note: '' },
];

const BY_ID = new Map(MATRIX.map((row) => [row.id, row]));

export function row(id: string): Row {
  const found = BY_ID.get(id);
  if (found === undefined) throw new Error(`no row "${id}" in test/compat/matrix.ts`);
  return found;
}

/** The test of row `id`: named `id — client call (status)`, so a failure names the row it contradicts. */
export function compatCase(id: string, fn: () => Promise<void>): void {
  const r = row(id);
  it(`${id} — ${r.client} ${r.call} → ${r.endpoint} (${r.status})`, fn);
}
