/**
 * The organisation's relay upstream (admins): where payloads are forwarded and the last 4 of the
 * upstream key — never the key, which the form takes in a password field and never fills back.
 */
import { DATADOG_SITES } from '../../relay/upstream-site.js';
import type { UpstreamView } from '../../relay/upstream-settings.js';
import { formatTime } from '../format.js';
import { html } from '../html.js';
import { csrfField, page } from '../layout.js';
import type { Viewer } from '../ui-context.js';

export interface UpstreamPageInput {
  viewer: Viewer;
  /** The stored settings; undefined when the organisation has none (standalone). */
  current: UpstreamView | undefined;
  /** A refused change: the message, and what was typed (the key is never sent back). */
  refused?: { message: string; mode: string; site: string };
}

export function upstreamPage(input: UpstreamPageInput): string {
  const { viewer, current, refused } = input;
  const mode = refused?.mode ?? current?.mode ?? 'relay';
  const site = refused?.site ?? current?.site ?? '';
  return page(
    { title: 'Upstream', viewer, active: 'upstream' },
    html`<h1>Upstream</h1>
<p class="muted">In relay mode, the agents send with keys issued here and rekey forwards their payloads to the upstream (Datadog, or any Datadog-compatible intake) with the upstream API key it holds. Resetting that key is one change here, with no agent touched. See docs/relay.md.</p>
${refused ? html`<div class="notice error" role="alert">${refused.message}</div>` : ''}
${
  current
    ? html`<table class="stack" id="upstream">
  <tbody>
    <tr><th>Mode</th><td data-label="Mode">${current.mode}</td></tr>
    <tr><th>Site</th><td data-label="Site" class="mono">${current.site}</td></tr>
    <tr><th>Metrics</th><td data-label="Metrics" class="mono">${current.urls.metrics}</td></tr>
    <tr><th>Logs</th><td data-label="Logs" class="mono">${current.urls.logs}</td></tr>
    <tr><th>Traces</th><td data-label="Traces" class="mono">${current.urls.traces}</td></tr>
    <tr><th>Upstream key</th><td data-label="Upstream key" class="mono">…${current.api_key_last4}</td></tr>
    <tr><th>Set</th><td data-label="Set">${formatTime(new Date(current.updated_at))}</td></tr>
  </tbody>
</table>`
    : html`<p id="upstream-none">No upstream is set: this organization stores its data here (standalone).</p>`
}
<h2>${current ? 'Change the upstream' : 'Set an upstream'}</h2>
<form method="post" action="/upstream" class="card">
  ${csrfField(viewer)}
  <label>Mode
    <select name="mode">
      <option value="relay"${mode === 'relay' ? html` selected` : ''}>relay — forward payloads upstream</option>
      <option value="standalone"${mode === 'standalone' ? html` selected` : ''}>standalone — store them here</option>
    </select>
  </label>
  <label>Datadog site or URL
    <input name="site" value="${site}" required list="datadog-sites" autocomplete="off" placeholder="datadoghq.com or https://…">
    <datalist id="datadog-sites">${DATADOG_SITES.map((name) => html`<option value="${name}">`)}</datalist>
  </label>
  <label>Upstream API key${current ? html` <span class="muted">(leave empty to keep …${current.api_key_last4})</span>` : ''}
    <input name="api_key" type="password" autocomplete="off"${current ? '' : html` required`}>
  </label>
  <button type="submit">Save</button>
</form>`,
  );
}
