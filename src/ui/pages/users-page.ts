/**
 * Admins: the organisation's users, a form that creates one with a generated password shown
 * once, and each user's lifecycle actions (disable/enable, reset password, delete).
 * Everyone: their own account page, where they change their password.
 */
import { ROLES, type User } from '../../store/store.js';
import { formatTime } from '../format.js';
import { html } from '../html.js';
import { csrfField, page } from '../layout.js';
import type { Viewer } from '../ui-context.js';
import { secretShownOnce } from './secret-shown-once.js';

export function usersPage(input: {
  viewer: Viewer;
  users: User[];
  /** Owner id → their disabled application keys, for “Enable their application keys”. */
  disabledAppKeys?: ReadonlyMap<string, number>;
  formId: string;
  error?: string;
  created?: { user: User; password: string };
  reset?: { user: User; password: string };
}): string {
  const { viewer } = input;
  return page(
    { title: 'Users', viewer, active: 'users' },
    html`<h1>Users</h1>
${input.error ? html`<div class="notice error" role="alert">${input.error}</div>` : ''}
${
  input.created
    ? html`<section class="card" id="new-user"><h2>User created: ${input.created.user.email}</h2>
  ${secretShownOnce({ label: 'Initial password', secret: input.created.password, fieldId: 'new-password', what: 'password', hint: 'Give it to the user through a safe channel; they sign in with it.' })}</section>`
    : ''
}
${
  input.reset
    ? html`<section class="card" id="reset-user"><h2>Password reset: ${input.reset.user.email}</h2>
  <p>Their sessions have ended and their application keys are disabled.</p>
  ${secretShownOnce({ label: 'New password', secret: input.reset.password, fieldId: 'reset-password', what: 'password', hint: 'Give it to the user through a safe channel; they sign in with it.' })}</section>`
    : ''
}
<table class="stack" id="users">
  <thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Created</th><th>Status</th><th>Actions</th></tr></thead>
  <tbody>${input.users.map(
    (u) => html`<tr data-user-id="${u.id}"><td data-label="Email">${u.email}</td><td data-label="Name">${u.name}</td><td data-label="Role">${u.role}</td>
  <td data-label="Created">${formatTime(u.createdAt)}</td><td data-label="Status">${u.disabled ? 'disabled' : 'active'}</td>
  <td class="actions" data-label="Actions">${userActions(viewer, u, input.formId, input.disabledAppKeys?.get(u.id) ?? 0)}</td></tr>`,
  )}</tbody>
</table>
<p class="muted small">Disabling a user signs them out everywhere and disables their application keys (kept, not deleted).
Enabling them again leaves those keys disabled unless you tick “also their application keys”. Deleting removes the user and
their application keys; the audit trail keeps what they did. The last active admin cannot be disabled or deleted.</p>
<section class="card"><h2>Create user</h2>
<form method="post" action="/users">${csrfField(viewer)}<input type="hidden" name="form_id" value="${input.formId}">
  <div class="form-row">
    <div><label for="user-email">Email</label><input type="email" id="user-email" name="email" required></div>
    <div><label for="user-name">Name</label><input type="text" id="user-name" name="name" maxlength="255" required></div>
    <div><label for="user-role">Role</label><select id="user-role" name="role">${ROLES.map((r) => html`<option value="${r}"${r === 'standard' ? html` selected` : ''}>${r}</option>`)}</select></div>
  </div>
  <p><button type="submit" class="primary">Create user</button></p>
  <p class="muted small">A password is generated and shown once; give it to the user.</p>
</form></section>`,
  );
}

function userActions(viewer: Viewer, user: User, formId: string, disabledKeys: number) {
  const base = `/users/${user.id}`;
  const keys = `${disabledKeys} application key${disabledKeys === 1 ? '' : 's'}`;
  const toggle = user.disabled
    ? html`<form method="post" action="${base}/enable">${csrfField(viewer)}
    ${disabledKeys > 0 ? html`<label class="small"><input type="checkbox" name="app_keys" value="1"> also their ${keys}</label>` : ''}
    <button type="submit">Enable</button></form>`
    : html`<form method="post" action="${base}/disable">${csrfField(viewer)}<button type="submit">Disable</button></form>
  ${
    disabledKeys > 0
      ? html`<form method="post" action="${base}/enable">${csrfField(viewer)}<input type="hidden" name="app_keys" value="1"><button type="submit">Enable their ${keys}</button></form>`
      : ''
  }`;
  return html`${toggle}
  <form method="post" action="${base}/reset-password">${csrfField(viewer)}<input type="hidden" name="form_id" value="${formId}-${user.id}"><button type="submit">Reset password</button></form>
  <form method="post" action="${base}/delete">${csrfField(viewer)}
    <label class="small"><input type="checkbox" name="confirm" value="yes" required> sure</label>
    <button type="submit" class="danger">Delete</button></form>`;
}

/** The signed-in user's own account: who they are, and a form to change their password. */
export function accountPage(input: { viewer: Viewer; error?: string; minLength: number }): string {
  const { viewer } = input;
  return page(
    { title: 'Your account', viewer },
    html`<h1>Your account</h1>
<p>${viewer.user.email} · ${viewer.user.role} in ${viewer.org.name}</p>
${input.error ? html`<div class="notice error" role="alert">${input.error}</div>` : ''}
<section class="card"><h2>Change password</h2>
<form method="post" action="/account/password">${csrfField(viewer)}
  <div class="form-row">
    <div><label for="current-password">Current password</label><input type="password" id="current-password" name="current_password" autocomplete="current-password" required></div>
    <div><label for="new-password">New password</label><input type="password" id="new-password" name="new_password" autocomplete="new-password" minlength="${String(input.minLength)}" required></div>
  </div>
  <p><button type="submit" class="primary">Change password</button></p>
  <p class="muted small">At least ${String(input.minLength)} characters. Every session of yours ends, this one too: you sign in again with the new password.</p>
</form></section>`,
  );
}
