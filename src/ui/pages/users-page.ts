/** Admins: the organisation's users, and a form that creates one with a generated password shown once. */
import { ROLES, type User } from '../../store/store.js';
import { formatTime } from '../format.js';
import { html } from '../html.js';
import { csrfField, page } from '../layout.js';
import type { Viewer } from '../ui-context.js';
import { secretShownOnce } from './secret-shown-once.js';

export function usersPage(input: { viewer: Viewer; users: User[]; formId: string; error?: string; created?: { user: User; password: string } }): string {
  const { viewer } = input;
  return page(
    { title: 'Users', viewer, active: 'users' },
    html`<h1>Users</h1>
${input.error ? html`<div class="notice error" role="alert">${input.error}</div>` : ''}
${input.created
  ? html`<section class="card" id="new-user"><h2>User created: ${input.created.user.email}</h2>
  ${secretShownOnce({ label: 'Initial password', secret: input.created.password, fieldId: 'new-password', what: 'password', hint: 'Give it to the user through a safe channel; they sign in with it.' })}</section>`
  : ''}
<table class="stack" id="users">
  <thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Created</th><th>Status</th></tr></thead>
  <tbody>${input.users.map(
    (u) => html`<tr><td data-label="Email">${u.email}</td><td data-label="Name">${u.name}</td><td data-label="Role">${u.role}</td>
  <td data-label="Created">${formatTime(u.createdAt)}</td><td data-label="Status">${u.disabled ? 'disabled' : 'active'}</td></tr>`,
  )}</tbody>
</table>
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
