/** The organisation's audit trail, newest first, 50 a page. */
import type { AuditEvent } from '../../store/store.js';
import { formatTime } from '../format.js';
import { html } from '../html.js';
import { page } from '../layout.js';
import type { Viewer } from '../ui-context.js';

export function auditPage(input: {
  viewer: Viewer;
  events: AuditEvent[];
  actors: Map<string, string>;
  pageNumber: number;
  hasMore: boolean;
  total: number;
}): string {
  const { pageNumber } = input;
  return page(
    { title: 'Audit trail', viewer: input.viewer, active: 'audit' },
    html`<h1>Audit trail</h1>
<p class="muted">${input.total} events. Keys never appear here, at most their last 4 characters.</p>
<table class="stack" id="audit">
  <thead><tr><th>When</th><th>Action</th><th>Actor</th><th>Target</th><th>Source IP</th><th>Details</th></tr></thead>
  <tbody>${
    input.events.length === 0
      ? html`<tr><td colspan="6" class="muted">No events.</td></tr>`
      : input.events.map(
          (e) => html`<tr><td data-label="When" class="nowrap">${formatTime(e.at)}</td><td data-label="Action" class="nowrap"><code>${e.action}</code></td>
  <td data-label="Actor">${e.actorId ? (input.actors.get(e.actorId) ?? e.actorId) : e.actorKind === 'user' ? html`<span class="muted">not signed in</span>` : e.actorKind}</td>
  <td data-label="Target" class="nowrap">${e.targetType}${e.targetId ? html` <span class="mono small" title="${e.targetId}">${e.targetId.slice(0, 8)}</span>` : ''}</td>
  <td data-label="Source IP" class="nowrap">${e.sourceIp ?? '—'}</td>
  <td data-label="Details" class="small">${Object.entries(e.details).map(([k, v], i) => html`${i > 0 ? ' · ' : ''}${k}: <span class="mono">${typeof v === 'string' ? v : JSON.stringify(v)}</span>`)}</td></tr>`,
        )
  }</tbody>
</table>
<div class="pager">${pageNumber > 0 ? html`<a href="/audit?page=${pageNumber - 1}">← Newer</a>` : ''}${input.hasMore ? html`<a href="/audit?page=${pageNumber + 1}">Older →</a>` : ''}</div>`,
  );
}
