/** Every host that sent data to the organisation, with the key it used last and its service checks' latest status. */
import { SERVICE_CHECK_STATUS_NAMES, type ServiceCheckStatus } from '../../intake/service-check-status.js';
import { formatAgo, formatTime } from '../format.js';
import { html } from '../html.js';
import { page } from '../layout.js';
import type { Viewer } from '../ui-context.js';

export interface HostRow {
  host: string;
  agentVersion: string | null;
  keyId: string;
  keyLast4: string;
  keyName: string;
  keyStatus: string;
  firstSeen: Date;
  lastSeen: Date;
  /** Other keys this host used before (a host mid-rotation shows both). */
  otherKeys: Array<{ id: string; last4: string }>;
  /** The latest run of each service check the host reported (DogStatsD `_sc`, `/api/v1/check_run`). */
  serviceChecks: ServiceCheckStatus[];
}

/** One service check: its name and status word, the message as a tooltip. */
function serviceCheck(check: ServiceCheckStatus) {
  const status = SERVICE_CHECK_STATUS_NAMES[check.status] ?? 'UNKNOWN';
  const tags = check.tags.length > 0 ? ` {${check.tags.join(',')}}` : '';
  return html`<div class="small" title="${check.message}"><span class="mono">${check.check}${tags}</span> <strong class="check-${status.toLowerCase()}">${status}</strong></div>`;
}

export function hostsPage(input: { viewer: Viewer; now: Date; hosts: HostRow[] }): string {
  return page(
    { title: 'Hosts', viewer: input.viewer, active: 'hosts' },
    html`<h1>Hosts</h1>
<p class="muted">Hosts that sent data with one of this organisation's API keys, most recent first.</p>
<table class="stack" id="hosts">
  <thead><tr><th>Host</th><th>Agent version</th><th>API key</th><th>Service checks</th><th>First seen</th><th>Last seen</th></tr></thead>
  <tbody>${
    input.hosts.length === 0
      ? html`<tr><td colspan="6" class="muted">No host has sent data yet.</td></tr>`
      : input.hosts.map(
          (h) => html`<tr><td data-label="Host" class="mono">${h.host}</td><td data-label="Agent version">${h.agentVersion ?? '—'}</td>
  <td data-label="API key"><a href="/keys/${h.keyId}" class="mono">…${h.keyLast4}</a> <span class="muted small">${h.keyName}${h.keyStatus === 'active' ? '' : ` (${h.keyStatus})`}</span>
    ${h.otherKeys.length > 0 ? html`<div class="small muted">before: ${h.otherKeys.map((k, i) => html`${i > 0 ? ', ' : ''}<a href="/keys/${k.id}" class="mono">…${k.last4}</a>`)}</div>` : ''}</td>
  <td data-label="Service checks">${h.serviceChecks.length === 0 ? html`<span class="muted">—</span>` : h.serviceChecks.map(serviceCheck)}</td>
  <td data-label="First seen">${formatTime(h.firstSeen)}</td><td data-label="Last seen">${formatAgo(h.lastSeen, input.now)}</td></tr>`,
        )
  }</tbody>
</table>`,
  );
}
