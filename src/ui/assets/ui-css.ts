/**
 * The UI's one stylesheet, served from /ui/assets/ui.css (kept in a .ts module so the build
 * ships it inside dist/ with no copy step). Mobile first: tables become stacked cards below
 * 640 px so every page works at 375 px.
 */
export const UI_CSS = `
:root { --fg:#1d1f24; --muted:#5d6470; --bg:#f6f7f9; --card:#fff; --line:#dde1e7; --accent:#632ca6;
  --accent-fg:#fff; --danger:#b3261e; --ok:#1b7f3b; --warn-bg:#fff6da; --warn-line:#e7c45a; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color: var(--accent); }
header.top { background:#2b1747; color:#fff; padding:.5rem 1rem; display:flex; flex-wrap:wrap; align-items:center; gap:.25rem 1rem; }
header.top .brand { font-weight:700; color:#fff; text-decoration:none; margin-right:.5rem; }
header.top nav { display:flex; flex-wrap:wrap; gap:.25rem .9rem; flex:1; }
header.top nav a { color:#e6dcf5; text-decoration:none; padding:.2rem 0; }
header.top nav a[aria-current="page"] { color:#fff; border-bottom:2px solid #fff; }
header.top .who { display:flex; align-items:center; gap:.5rem; font-size:.85rem; color:#e6dcf5; }
header.top .who button { background:transparent; color:#fff; border:1px solid #8f76b3; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size:1.5rem; margin:.5rem 0 1rem; }
h2 { font-size:1.15rem; margin:1.5rem 0 .5rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:1rem; margin:0 0 1rem; }
.card > h2:first-child { margin-top:0; }
table + .card, table + form.card { margin-top:1rem; }
.muted { color:var(--muted); }
.small { font-size:.85rem; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; }
table.stack th, table.stack td { text-align:left; padding:.5rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; overflow-wrap:break-word; }
td.nowrap { white-space:nowrap; }
table.stack th { font-size:.8rem; text-transform:uppercase; letter-spacing:.03em; color:var(--muted); background:#fafbfc; }
table.stack tr:last-child td { border-bottom:0; }
td.actions { white-space:nowrap; }
td.actions form, td.actions a { display:inline-block; margin:0 .25rem .25rem 0; }
button, .button { font:inherit; font-size:.9rem; padding:.4rem .8rem; border-radius:6px; border:1px solid var(--line);
  background:#fff; color:var(--fg); cursor:pointer; text-decoration:none; display:inline-block; line-height:1.3; }
button.primary, .button.primary { background:var(--accent); border-color:var(--accent); color:var(--accent-fg); }
button.danger, .button.danger { background:#fff; border-color:var(--danger); color:var(--danger); }
button[disabled] { opacity:.5; cursor:not-allowed; }
input[type=text], input[type=email], input[type=password], select { font:inherit; padding:.45rem .6rem; border:1px solid var(--line);
  border-radius:6px; width:100%; max-width:28rem; background:#fff; }
label { display:block; font-weight:600; margin:.6rem 0 .25rem; }
.form-row { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; }
.form-row > div { flex: 1 1 14rem; }
.notice { padding:.6rem .8rem; border-radius:6px; margin:0 0 1rem; border:1px solid var(--line); background:#fff; }
.notice.ok { border-color:#9fd3af; background:#eef9f1; }
.notice.error { border-color:#e5a3a0; background:#fdf0ef; color:#7d1a14; }
.notice.warn { border-color:var(--warn-line); background:var(--warn-bg); }
.secret { display:flex; flex-wrap:wrap; gap:.5rem; align-items:center; }
.secret input { font-family: ui-monospace, Menlo, Consolas, monospace; flex:1 1 20rem; max-width:none; }
.badge { display:inline-block; font-size:.75rem; padding:.05rem .45rem; border-radius:999px; border:1px solid var(--line); background:#f1f2f5; }
.badge.active { background:#eef9f1; border-color:#9fd3af; color:var(--ok); }
.badge.revoked { background:#fdf0ef; border-color:#e5a3a0; color:var(--danger); }
.badge.expiring { background:var(--warn-bg); border-color:var(--warn-line); }
details.rename summary { cursor:pointer; color:var(--accent); font-size:.85rem; }
details.rename form { display:flex; gap:.4rem; margin-top:.3rem; }
.chart { width:100%; min-height:260px; overflow:hidden; } /* a chart drawn for a wider window never widens the page before its resize handler runs */
.login { max-width: 24rem; margin: 3rem auto; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:.3rem 1rem; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; overflow-wrap:anywhere; }
.pager { display:flex; gap:1rem; margin-top:.75rem; }
@media (max-width: 640px) {
  main { padding:.6rem; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display:block; width:100%; }
  table.stack thead { display:none; }
  table.stack { border:0; background:transparent; }
  table.stack tr { background:var(--card); border:1px solid var(--line); border-radius:8px; margin-bottom:.6rem; padding:.3rem 0; }
  table.stack td { border:0; padding:.25rem .7rem; overflow-wrap:anywhere; }
  td.nowrap { white-space:normal; }
  table.stack td[data-label]::before { content: attr(data-label); display:block; font-size:.72rem; text-transform:uppercase; color:var(--muted); }
  td.actions { white-space:normal; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom:.4rem; }
  .secret input { font-size:.8rem; padding:.45rem .35rem; }
}
`;
