/**
 * The block that shows a new key or password exactly once: a read-only field, a copy button
 * and the warning. Rendered only in the response to the POST that created it; the secret is
 * never kept in the session, so no later page (or reload) can show it again.
 */
import { html, type Html } from '../html.js';

export function secretShownOnce(input: { label: string; secret: string; fieldId: string; what: string; hint?: string }): Html {
  return html`<div class="notice warn" role="alert">
  <p><strong>Copy this ${input.what} now.</strong> It will not be shown again: rekey stores only a hash of it.
  ${input.hint ?? 'If you lose it, create a new one.'}</p>
  <label for="${input.fieldId}">${input.label}</label>
  <div class="secret">
    <input type="text" id="${input.fieldId}" value="${input.secret}" readonly autocomplete="off" spellcheck="false" data-secret>
    <button type="button" class="primary" data-copy-target="${input.fieldId}">Copy</button>
  </div>
</div>`;
}
