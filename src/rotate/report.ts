/** The final report of a rotation (or the plan of a dry run), as a table for people. */
import type { RotationReport } from './rotation.js';

export function formatReport(report: RotationReport): string {
  const out: string[] = [];
  out.push(report.dry_run ? `Rotation plan (dry run) against ${report.url}` : `Rotation ${report.rotation_id} against ${report.url}`);
  out.push('');
  out.push('Old keys:');
  for (const key of report.old_keys) {
    const state = report.dry_run ? 'to be replaced' : key.revoked ? 'REVOKED' : 'still active';
    out.push(`  …${key.last4}  ${key.id}  ${key.name || '(no name)'}  ${state}`);
  }
  if (report.new_key) out.push(`New key: …${report.new_key.last4}  ${report.new_key.id}  ${report.new_key.name}${report.mode === 'roll' ? ' (rolled)' : ''}`);
  out.push('');
  out.push(
    table(
      ['HOST', 'TRANSPORT', 'STATE', 'VERIFIED BY', 'DETAIL'],
      report.hosts.map((host) => [host.name, host.transport, host.state, host.verified_by ?? '', host.error ?? '']),
    ),
  );
  if (report.unknown_hosts.length > 0) {
    out.push('');
    out.push('Hosts NOT in the inventory that used an old key recently:');
    out.push(
      table(
        ['HOST', 'KEY', 'LAST SEEN'],
        report.unknown_hosts.map((h) => [h.host, `…${h.key_last4}`, h.last_seen]),
      ),
    );
  }
  if (report.stragglers.length > 0) {
    out.push('');
    out.push(report.forced ? 'Stragglers (revoked anyway, --force):' : 'Stragglers (the old key stays active until they are on the new key):');
    out.push(
      table(
        ['HOST', 'KEY', 'WHY'],
        report.stragglers.map((s) => [s.host, `…${s.key_last4}`, s.reason]),
      ),
    );
  }
  if (report.notes.length > 0) {
    out.push('');
    for (const note of report.notes) out.push(`Note: ${note}`);
  }
  out.push('');
  if (report.dry_run) out.push('Dry run: nothing was changed.');
  else {
    const verified = report.hosts.filter((h) => h.state === 'verified').length;
    const revoked = report.old_keys.filter((k) => k.revoked).length;
    out.push(
      `${verified}/${report.hosts.length} hosts verified on the new key; ${revoked}/${report.old_keys.length} old keys revoked (${(report.duration_ms / 1000).toFixed(1)} s).`,
    );
    if (report.exit_code !== 0 && report.journal)
      out.push(`Journal: ${report.journal} (holds the new key, mode 0600); finish with: rekey rotate --inventory … --resume`);
  }
  return `${out.join('\n')}\n`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.min(60, Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}
