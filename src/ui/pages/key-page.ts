/**
 * One API key: its facts, a chart of reporting hosts and points over time (with the keys it
 * was rolled from or into, so a rotation shows as one line falling and another rising) and
 * the hosts that used it.
 */
import type { ApiKey, KeyHostUsage } from '../../store/store.js';
import { formatAgo, formatTime } from '../format.js';
import { html, jsonForScript } from '../html.js';
import type { ChartData } from '../key-usage-chart.js';
import { page } from '../layout.js';
import type { Viewer } from '../ui-context.js';
import { hostsTable, keyStatusBadge, LAST_KEY_MESSAGE } from './api-keys-page.js';

export interface KeyPageView {
  viewer: Viewer;
  now: Date;
  key: ApiKey;
  createdBy: string;
  hosts: KeyHostUsage[];
  related: Array<{ key: ApiKey; relation: 'rolled from' | 'rolled into' }>;
  chart: ChartData;
  canManage: boolean;
  isLastActive: boolean;
}

export function keyPage(view: KeyPageView): string {
  const { key, viewer, now } = view;
  const live = key.status === 'active' && !(key.expiresAt && key.expiresAt.getTime() <= now.getTime());
  return page(
    { title: key.name, viewer, active: 'keys', chart: true },
    html`<p class="small"><a href="/keys">← API keys</a></p>
<h1>${key.name} ${keyStatusBadge(key, now)}</h1>
<section class="card">
<dl class="facts">
  <dt>Key</dt><dd class="mono">…${key.last4}</dd>
  <dt>ID</dt><dd class="mono small">${key.id}</dd>
  <dt>Created</dt><dd>${formatTime(key.createdAt)} by ${view.createdBy}</dd>
  <dt>Last used</dt><dd>${formatAgo(key.lastUsedAt, now)}</dd>
  ${key.expiresAt ? html`<dt>Expires</dt><dd>${formatTime(key.expiresAt)}</dd>` : ''}
  ${key.revokedAt ? html`<dt>Revoked</dt><dd>${formatTime(key.revokedAt)}</dd>` : ''}
  ${view.related.map((r) => html`<dt>${r.relation === 'rolled from' ? 'Replaces' : 'Replaced by'}</dt><dd><a href="/keys/${r.key.id}">${r.key.name}</a> (…${r.key.last4}) ${keyStatusBadge(r.key, now)}</dd>`)}
</dl>
${
  view.canManage && key.status === 'active'
    ? html`<p class="actions">${live ? html`<a class="button" href="/keys/${key.id}/roll">Roll</a> ` : ''}${
        view.isLastActive
          ? html`<button type="button" class="danger" disabled>Revoke</button> <span class="muted small">${LAST_KEY_MESSAGE}</span>`
          : html`<a class="button danger" href="/keys/${key.id}/revoke">Revoke</a>`
      }</p>`
    : ''
}
</section>
<h2>Reporting hosts and points</h2>
<div class="card">
  <div id="usage-chart" class="chart" role="img" aria-label="Reporting hosts and points per minute over time"></div>
  <script type="application/json" id="usage-data">${jsonForScript(view.chart)}</script>
  <p class="muted small">Per minute, as the intake counted them (kept 7 days): points of series payloads per minute, and the most distinct hosts seen in one minute. Requests and bytes per minute: <span class="mono">GET /api/v2/api_keys/${key.id}/usage</span>.</p>
</div>
<h2>Hosts using this key</h2>
${hostsTable(view.hosts, now)}`,
  );
}
