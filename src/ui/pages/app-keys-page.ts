/** The viewer's own application keys: create (shown once), rename, delete. */
import type { AppKey } from '../../store/store.js';
import { formatAgo, formatTime } from '../format.js';
import { html } from '../html.js';
import { csrfField, page } from '../layout.js';
import type { Viewer } from '../ui-context.js';
import { secretShownOnce } from './secret-shown-once.js';

export interface AppKeysView {
  viewer: Viewer;
  now: Date;
  keys: AppKey[];
  canManage: boolean;
  formId: string;
  error?: string;
  created?: { key: AppKey; secret: string };
}

export function appKeysPage(view: AppKeysView): string {
  const { viewer } = view;
  return page(
    { title: 'Application keys', viewer, active: 'app-keys' },
    html`<h1>Application keys</h1>
${view.error ? html`<div class="notice error" role="alert">${view.error}</div>` : ''}
${
  view.created
    ? html`<section class="card" id="new-key"><h2>Application key created: ${view.created.key.name}</h2>
  ${secretShownOnce({ label: 'New application key', secret: view.created.secret, fieldId: 'new-app-key', what: 'application key' })}</section>`
    : ''
}
<p class="muted">Application keys, together with an API key, let tools use the management API as you (${viewer.user.email}).</p>
<table class="stack" id="app-keys">
  <thead><tr><th>Name</th><th>Key</th><th>Created</th><th>Last used</th>${view.canManage ? html`<th>Actions</th>` : ''}</tr></thead>
  <tbody>${
    view.keys.length === 0
      ? html`<tr><td colspan="5" class="muted">You have no application keys.</td></tr>`
      : view.keys.map(
          (key) => html`<tr data-key-id="${key.id}">
  <td data-label="Name">${key.name}${
    view.canManage
      ? html`<details class="rename"><summary>Rename</summary><form method="post" action="/app-keys/${key.id}/rename">${csrfField(viewer)}
      <input type="text" name="name" value="${key.name}" maxlength="255" required aria-label="New name"><button type="submit">Save</button></form></details>`
      : ''
  }</td>
  <td data-label="Key" class="mono">…${key.last4}</td>
  <td data-label="Created">${formatTime(key.createdAt)}</td>
  <td data-label="Last used">${formatAgo(key.lastUsedAt, view.now)}</td>
  ${
    view.canManage
      ? html`<td class="actions" data-label="Actions"><form method="post" action="/app-keys/${key.id}/delete" data-confirm="Delete application key …${key.last4}? Tools using it stop working at once.">${csrfField(viewer)}<button type="submit" class="danger">Delete</button></form></td>`
      : ''
  }
</tr>`,
        )
  }</tbody>
</table>
${
  view.canManage
    ? html`<section class="card"><h2>Create application key</h2>
  <form method="post" action="/app-keys" class="form-row">${csrfField(viewer)}<input type="hidden" name="form_id" value="${view.formId}">
    <div><label for="new-app-key-name">Name</label><input type="text" id="new-app-key-name" name="name" maxlength="255" required></div>
    <div><button class="primary" type="submit">Create application key</button></div></form></section>`
    : html`<p class="muted small">Read-only users cannot create application keys.</p>`
}`,
  );
}
