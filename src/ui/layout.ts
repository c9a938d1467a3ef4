/**
 * The frame of every page: head (one stylesheet, one deferred script — the CSP allows no
 * inline code), the navigation for the viewer's role, the sign-out form and a flash notice.
 */
import { html, type Html } from './html.js';
import { CAN, type Viewer } from './ui-context.js';

export const ASSET_PATHS = {
  css: '/ui/assets/ui.css',
  js: '/ui/assets/ui.js',
  uplotJs: '/ui/assets/uplot.min.js',
  uplotCss: '/ui/assets/uplot.min.css',
} as const;

export type NavItem = 'keys' | 'app-keys' | 'hosts' | 'audit' | 'users' | 'upstream';

export interface PageFrame {
  title: string;
  viewer?: Viewer | null;
  active?: NavItem;
  /** Adds uPlot's script and stylesheet. */
  chart?: boolean;
}

export function csrfField(viewer: Viewer): Html {
  return html`<input type="hidden" name="_csrf" value="${viewer.session.csrfToken}">`;
}

/**
 * Shown to admins on every page while this node's relay holds the organisation's payloads (the
 * upstream refuses the upstream key) or is late delivering them: nothing is lost, but nothing
 * reaches Datadog until an admin acts. The same reasons /healthz gives as degraded.
 */
function relayBanner(problems: readonly string[]): Html {
  return html`<div class="notice error" role="alert" id="relay-banner"><strong>Relay: payloads are waiting, not reaching the upstream.</strong>
<ul>${problems.map((problem) => html`<li>${problem}</li>`)}</ul>
<a href="/upstream">Check the upstream and its key</a> · nothing is lost: the spool delivers them once the upstream accepts.</div>`;
}

export function page(frame: PageFrame, body: Html): string {
  const viewer = frame.viewer ?? null;
  const flash = viewer?.session.flash ?? null;
  if (viewer) viewer.session.flash = null; // shown once
  const navItems: Array<[NavItem, string, string]> = [
    ['keys', '/keys', 'API keys'],
    ['app-keys', '/app-keys', 'Application keys'],
    ['hosts', '/hosts', 'Hosts'],
  ];
  if (viewer && CAN.viewAudit(viewer.user.role)) navItems.push(['audit', '/audit', 'Audit trail']);
  if (viewer && CAN.viewUsers(viewer.user.role)) navItems.push(['users', '/users', 'Users']);
  if (viewer && CAN.viewUpstream(viewer.user.role)) navItems.push(['upstream', '/upstream', 'Upstream']);
  const relayProblems = viewer?.relayProblems ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · rekey</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_PATHS.css}">
${frame.chart ? html`<link rel="stylesheet" href="${ASSET_PATHS.uplotCss}"><script src="${ASSET_PATHS.uplotJs}" defer></script>` : ''}
<script src="${ASSET_PATHS.js}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">rekey</a>
  ${
    viewer
      ? html`<nav aria-label="Main">${navItems.map(
          ([id, href, label]) => html`<a href="${href}"${id === frame.active ? html` aria-current="page"` : ''}>${label}</a>`,
        )}</nav>
  <div class="who"><span><a href="/account" title="Your account and password">${viewer.user.email}</a> · ${viewer.org.name} · ${viewer.user.role}</span>
    <form method="post" action="/logout">${csrfField(viewer)}<button type="submit">Sign out</button></form></div>`
      : ''
  }
</header>
<main>
${relayProblems.length > 0 ? relayBanner(relayProblems) : ''}
${flash ? html`<div class="notice ${flash.kind}" role="status">${flash.text}</div>` : ''}
${body}
</main>
</body>
</html>`.value;
}
