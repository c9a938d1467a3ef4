/**
 * HTML built from template literals where every interpolated value is escaped unless it is
 * already `Html`. This is the UI's one defence against injection: user-supplied text (key and
 * user names, hosts, audit details) can only reach a page through `html\`…\``, so
 * `<script>alert(1)</script>` as a key name renders as text.
 *
 * @example
 *   html`<td>${key.name}</td>`            // escaped
 *   html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`  // arrays of Html are joined
 */

/** A string that is already safe HTML. Only `html` and `trustedHtml` make one. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** Tagged template: the literal parts are trusted, every `${value}` is escaped. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Marks a string produced by trusted code (never user input) as HTML. */
export function trustedHtml(value: string): Html {
  return new Html(value);
}

/**
 * JSON for a `<script type="application/json">` data block: `<` is escaped so no value can
 * close the element, whatever a host or key name contains.
 */
export function jsonForScript(value: unknown): Html {
  return new Html(
    JSON.stringify(value)
      .replace(/</g, '\\u003c')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029'),
  );
}
