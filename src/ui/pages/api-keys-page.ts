/**
 * "Organization settings → API keys", as Datadog has it: the active keys with name, last 4,
 * creator, creation, last use and hosts in the last 24 h; create, rename inline, revoke
 * (confirmed on its own page), roll; the revoked keys with Restore within the window.
 * The last active key's Revoke is disabled with the reason the store would give.
 */
import { errorCatalogue } from '../../errors.js';
import type { ApiKey, KeyHostUsage } from '../../store/store.js';
import { formatAgo, formatDuration, formatTime } from '../format.js';
import { html, type Html } from '../html.js';
import { csrfField, page } from '../layout.js';
import type { Viewer } from '../ui-context.js';
import { secretShownOnce } from './secret-shown-once.js';

export const LAST_KEY_MESSAGE = errorCatalogue.LAST_ACTIVE_API_KEY.message();

export interface ApiKeyRow {
  key: ApiKey;
  createdBy: string;
  hostsLast24h: number;
}

export interface ApiKeysView {
  viewer: Viewer;
  now: Date;
  active: ApiKeyRow[];
  revoked: ApiKeyRow[];
  canManage: boolean;
  /** Set when exactly one key keeps the organisation from having zero keys. */
  lastActiveKeyId: string | null;
  /** One-time id for the create form (a resent POST does not create a second key). */
  formId: string;
  restoreWindowMs: number;
  error?: string;
  /** Only in the response to the POST that created the key. */
  created?: { key: ApiKey; secret: string; replaced?: ApiKey };
}

export function keyStatusBadge(key: ApiKey, now: Date): Html {
  if (key.status === 'revoked') return html`<span class="badge revoked">revoked</span>`;
  if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) return html`<span class="badge revoked">expired</span>`;
  if (key.expiresAt) return html`<span class="badge expiring" title="${key.expiresAt.toISOString()}">expires ${formatTime(key.expiresAt)}</span>`;
  return html`<span class="badge active">active</span>`;
}

function activeRow(view: ApiKeysView, row: ApiKeyRow): Html {
  const { key } = row;
  const { viewer } = view;
  const isLast = view.lastActiveKeyId === key.id;
  const live = !(key.expiresAt && key.expiresAt.getTime() <= view.now.getTime());
  return html`<tr data-key-id="${key.id}">
  <td data-label="Name"><a href="/keys/${key.id}">${key.name}</a> ${keyStatusBadge(key, view.now)}
    ${
      view.canManage
        ? html`<details class="rename"><summary>Rename</summary>
      <form method="post" action="/keys/${key.id}/rename">${csrfField(viewer)}
        <input type="text" name="name" value="${key.name}" maxlength="255" required aria-label="New name">
        <button type="submit">Save</button></form></details>`
        : ''
    }</td>
  <td data-label="Key" class="mono">…${key.last4}</td>
  <td data-label="Created by">${row.createdBy}</td>
  <td data-label="Created">${formatTime(key.createdAt)}</td>
  <td data-label="Last used">${formatAgo(key.lastUsedAt, view.now)}</td>
  <td data-label="Hosts (24 h)">${row.hostsLast24h}</td>
  ${
    view.canManage
      ? html`<td class="actions" data-label="Actions">
    ${live ? html`<a class="button" href="/keys/${key.id}/roll">Roll</a>` : ''}
    ${
      isLast
        ? html`<button type="button" class="danger" disabled title="${LAST_KEY_MESSAGE}" aria-describedby="last-key-reason">Revoke</button>`
        : html`<a class="button danger" href="/keys/${key.id}/revoke">Revoke</a>`
    }
  </td>`
      : ''
  }
</tr>`;
}

function revokedRow(view: ApiKeysView, row: ApiKeyRow): Html {
  const { key } = row;
  const revokedAt = key.revokedAt ?? key.modifiedAt;
  const restorable = view.now.getTime() - revokedAt.getTime() <= view.restoreWindowMs;
  return html`<tr data-key-id="${key.id}">
  <td data-label="Name"><a href="/keys/${key.id}">${key.name}</a> ${keyStatusBadge(key, view.now)}</td>
  <td data-label="Key" class="mono">…${key.last4}</td>
  <td data-label="Created by">${row.createdBy}</td>
  <td data-label="Revoked">${formatTime(revokedAt)}</td>
  <td data-label="Last used">${formatAgo(key.lastUsedAt, view.now)}</td>
  ${
    view.canManage
      ? html`<td class="actions" data-label="Actions">${
          restorable
            ? html`<form method="post" action="/keys/${key.id}/restore">${csrfField(view.viewer)}<button type="submit">Restore</button></form>`
            : html`<span class="muted small">Revoked more than ${formatDuration(view.restoreWindowMs)} ago; cannot be restored</span>`
        }</td>`
      : ''
  }
</tr>`;
}

export function apiKeysPage(view: ApiKeysView): string {
  const { viewer } = view;
  return page(
    { title: 'API keys', viewer, active: 'keys' },
    html`<h1>API keys</h1>
${view.error ? html`<div class="notice error" role="alert">${view.error}</div>` : ''}
${
  view.created
    ? html`<section class="card" id="new-key">
  <h2>${view.created.replaced ? 'API key rolled' : 'API key created'}: ${view.created.key.name}</h2>
  ${
    view.created.replaced
      ? html`<p>The previous key …${view.created.replaced.last4} ${view.created.replaced.status === 'revoked' ? 'is revoked.' : html`keeps working until ${formatTime(view.created.replaced.expiresAt)}. Put the new key on every host before then.`}</p>`
      : ''
  }
  ${secretShownOnce({ label: 'New API key', secret: view.created.secret, fieldId: 'new-api-key', what: 'API key' })}
</section>`
    : ''
}
<p class="muted">API keys let agents and tools send data to this organisation. Each key is shown once, when it is created.</p>
${view.lastActiveKeyId ? html`<p class="notice" id="last-key-reason">${LAST_KEY_MESSAGE}</p>` : ''}
<table class="stack" id="active-keys">
  <thead><tr><th>Name</th><th>Key</th><th>Created by</th><th>Created</th><th>Last used</th><th>Hosts (24 h)</th>${view.canManage ? html`<th>Actions</th>` : ''}</tr></thead>
  <tbody>${view.active.length === 0 ? html`<tr><td colspan="7" class="muted">No active keys.</td></tr>` : view.active.map((row) => activeRow(view, row))}</tbody>
</table>
${
  view.canManage
    ? html`<section class="card" id="create-key">
  <h2>Create API key</h2>
  <form method="post" action="/keys" class="form-row">${csrfField(viewer)}
    <input type="hidden" name="form_id" value="${view.formId}">
    <div><label for="new-key-name">Name</label><input type="text" id="new-key-name" name="name" maxlength="255" required placeholder="e.g. production agents"></div>
    <div><button class="primary" type="submit">Create API key</button></div>
  </form>
</section>`
    : html`<p class="muted small">Only admins can create, rename, roll, revoke or restore API keys.</p>`
}
<h2>Revoked keys</h2>
<p class="muted small">A revoked key stops working at once. It can be restored for ${formatDuration(view.restoreWindowMs)} after it was revoked.</p>
<table class="stack" id="revoked-keys">
  <thead><tr><th>Name</th><th>Key</th><th>Created by</th><th>Revoked</th><th>Last used</th>${view.canManage ? html`<th>Actions</th>` : ''}</tr></thead>
  <tbody>${view.revoked.length === 0 ? html`<tr><td colspan="6" class="muted">No revoked keys.</td></tr>` : view.revoked.map((row) => revokedRow(view, row))}</tbody>
</table>`,
  );
}

export function hostsTable(hosts: readonly KeyHostUsage[], now: Date, id = 'key-hosts'): Html {
  return html`<table class="stack" id="${id}">
  <thead><tr><th>Host</th><th>Agent version</th><th>First seen</th><th>Last seen</th><th>Points</th></tr></thead>
  <tbody>${
    hosts.length === 0
      ? html`<tr><td colspan="5" class="muted">No host has used this key.</td></tr>`
      : hosts.map(
          (h) => html`<tr><td data-label="Host" class="mono">${h.host}</td><td data-label="Agent version">${h.agentVersion ?? '—'}</td>
        <td data-label="First seen">${formatTime(h.firstSeen)}</td><td data-label="Last seen">${formatAgo(h.lastSeen, now)}</td>
        <td data-label="Points">${h.points.toLocaleString('en-US')}</td></tr>`,
        )
  }</tbody>
</table>`;
}

/** Revoke confirmation: lists the hosts that still use the key. */
export function revokeConfirmPage(input: { viewer: Viewer; key: ApiKey; hosts: KeyHostUsage[]; now: Date; recentMs: number; refusal: string | null }): string {
  const { viewer, key, now } = input;
  const recent = input.hosts.filter((h) => now.getTime() - h.lastSeen.getTime() <= input.recentMs);
  return page(
    { title: `Revoke ${key.name}`, viewer, active: 'keys' },
    html`<h1>Revoke API key “${key.name}” (…${key.last4})?</h1>
${
  input.refusal
    ? html`<div class="notice error" role="alert">${input.refusal}</div><p><a href="/keys">Back to API keys</a></p>`
    : html`${
        recent.length > 0
          ? html`<div class="notice warn" role="alert"><strong>${recent.length} host${recent.length === 1 ? '' : 's'} used this key in the last ${formatDuration(input.recentMs)}.</strong>
        Their data will be refused (403) as soon as the key is revoked. Put a new key on them first.</div>`
          : html`<div class="notice ok">No host used this key in the last ${formatDuration(input.recentMs)}.</div>`
      }
<h2>Hosts that used this key</h2>
${hostsTable(input.hosts, now, 'revoke-hosts')}
<form method="post" action="/keys/${key.id}/revoke" class="card">${csrfField(viewer)}
  <p>The key stops working at once on every server. You can restore it within 7 days.</p>
  <button type="submit" class="danger">Revoke key …${key.last4}</button> <a href="/keys">Cancel</a>
</form>`
}`,
  );
}

/** Roll: a new key now, the old one expires after a grace period. */
export function rollPage(input: {
  viewer: Viewer;
  key: ApiKey;
  formId: string;
  graceOptions: Array<{ seconds: number; label: string }>;
  defaultGraceSeconds: number;
}): string {
  const { viewer, key } = input;
  return page(
    { title: `Roll ${key.name}`, viewer, active: 'keys' },
    html`<h1>Roll API key “${key.name}” (…${key.last4})</h1>
<p>Rolling creates a new key now and makes this one stop working after a grace period, so you can
put the new key on every host before the old one expires. <code>rekey rotate</code> does this across a fleet and checks every host.</p>
<form method="post" action="/keys/${key.id}/roll" class="card">${csrfField(viewer)}
  <input type="hidden" name="form_id" value="${input.formId}">
  <label for="roll-name">Name of the new key</label>
  <input type="text" id="roll-name" name="name" maxlength="255" value="${key.name}" required>
  <label for="grace">The old key keeps working for</label>
  <select id="grace" name="grace_seconds">${input.graceOptions.map(
    (o) => html`<option value="${o.seconds}"${o.seconds === input.defaultGraceSeconds ? html` selected` : ''}>${o.label}</option>`,
  )}</select>
  <p><button type="submit" class="primary">Roll key</button> <a href="/keys">Cancel</a></p>
</form>`,
  );
}
