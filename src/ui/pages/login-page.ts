/** The sign-in form. Its CSRF token is a double-submit cookie (there is no session yet). */
import { html } from '../html.js';
import { page } from '../layout.js';

export function loginPage(input: { csrfToken: string; email?: string; error?: string; next?: string }): string {
  return page(
    { title: 'Sign in' },
    html`<div class="login card">
  <h1>Sign in to rekey</h1>
  ${input.error ? html`<div class="notice error" role="alert">${input.error}</div>` : ''}
  <form method="post" action="/login">
    <input type="hidden" name="_csrf" value="${input.csrfToken}">
    ${input.next ? html`<input type="hidden" name="next" value="${input.next}">` : ''}
    <label for="email">Email</label>
    <input type="email" id="email" name="email" autocomplete="username" required value="${input.email ?? ''}">
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="current-password" required>
    <p><button class="primary" type="submit">Sign in</button></p>
  </form>
</div>`,
  );
}
