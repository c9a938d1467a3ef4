/** A page for an error that ends a request (403, 404, 400 from a refused change, 500). */
import { html } from '../html.js';
import { page } from '../layout.js';
import type { Viewer } from '../ui-context.js';

const TITLES: Record<number, string> = { 400: 'Not done', 403: 'Not allowed', 404: 'Not found', 429: 'Too many attempts', 500: 'Something went wrong' };

export function errorPage(status: number, message: string, viewer: Viewer | null): string {
  const title = TITLES[status] ?? 'Error';
  return page(
    { title, viewer },
    html`<h1>${title}</h1>
<div class="notice error" role="alert">${message}</div>
<p><a href="/keys">Back to API keys</a></p>`,
  );
}
