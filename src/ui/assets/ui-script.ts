/**
 * The UI's one script, served from /ui/assets/ui.js: the Content-Security-Policy allows no
 * inline script, so every enhancement lives here. Pages work without it (forms post,
 * confirmation is a page); it adds the copy button, confirm dialogs and the usage chart.
 */
export const UI_SCRIPT = `
'use strict';
(function () {
  // Copy buttons: <button data-copy-target="ID"> copies the value of #ID.
  document.querySelectorAll('button[data-copy-target]').forEach(function (button) {
    button.addEventListener('click', function () {
      var target = document.getElementById(button.getAttribute('data-copy-target'));
      if (!target) return;
      var text = target.value;
      var done = function () { button.textContent = 'Copied'; setTimeout(function () { button.textContent = 'Copy'; }, 2000); };
      var fallback = function () { target.select(); try { document.execCommand('copy'); done(); } catch (e) { /* user copies by hand */ } };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
  });

  // Confirm dialogs: <form data-confirm="Really?"> asks before submitting.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });

  // Usage chart: data from <script type="application/json" id="usage-data"> into #usage-chart.
  var holder = document.getElementById('usage-chart');
  var dataNode = document.getElementById('usage-data');
  if (holder && dataNode && window.uPlot) {
    var data = JSON.parse(dataNode.textContent);
    var colors = ['#632ca6', '#1b7f3b', '#d9822b', '#2b6cb0'];
    var series = [{}];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      series.push({ label: s.label, scale: s.unit, stroke: colors[i % colors.length], width: 2,
        dash: s.unit === 'points' ? [6, 4] : undefined, points: { show: false } });
      columns.push(s.values);
    });
    var size = function () { return { width: Math.max(280, holder.clientWidth), height: 260 }; };
    var opts = Object.assign(size(), {
      series: series,
      scales: { x: { time: true }, hosts: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{}, { scale: 'hosts', label: 'hosts' }, { scale: 'points', side: 1, label: 'points/min', grid: { show: false } }],
    });
    var chart = new window.uPlot(opts, columns, holder);
    window.addEventListener('resize', function () { chart.setSize(size()); });
  }
})();
`;
