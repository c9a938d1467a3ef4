/** Display helpers for dates and counts (UTC everywhere: an operator's fleet spans zones). */
import { html, type Html } from './html.js';

/** `2026-11-27 06:12 UTC` in a <time> element carrying the exact ISO instant. */
export function formatTime(date: Date | null | undefined, empty = 'never'): Html {
  if (!date) return html`<span class="muted">${empty}</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** `3 min ago`, `2 h ago`, `5 d ago`, with the exact time as a tooltip. */
export function formatAgo(date: Date | null | undefined, now: Date, empty = 'never'): Html {
  if (!date) return html`<span class="muted">${empty}</span>`;
  const seconds = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  const text =
    seconds < 60
      ? 'just now'
      : seconds < 3600
        ? `${Math.floor(seconds / 60)} min ago`
        : seconds < 86_400
          ? `${Math.floor(seconds / 3600)} h ago`
          : `${Math.floor(seconds / 86_400)} d ago`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${text}</time>`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** `7 days`, `24 hours`, `30 minutes`, `immediately`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return 'immediately';
  const units: Array<[number, string]> = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
  ];
  for (const [size, name] of units) {
    // "24 hours" reads better than "1 day"; whole days from 2 on.
    if (ms >= size * (name === 'day' ? 2 : 1) && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${Math.round(ms / 1000)} seconds`;
}
