/**
 * `rekey rotate`: replaces the organisation's API key on every host of an inventory, verifies
 * each host uses the new key, and only then revokes the old one. See src/rotate/rotation.ts.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';

interface RotateFlags {
  inventory: string;
  key?: string[];
  grace?: string;
  concurrency: string;
  dryRun?: boolean;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  journal?: string;
  verifyTimeout: string;
  recent: string;
  url?: string;
}

export function registerRotateCommand(program: Command): void {
  program
    .command('rotate')
    .description('Replace the API key on every host of an inventory, verify, then revoke the old key')
    .requiredOption('--inventory <file>', 'YAML inventory of hosts (see examples/inventory.yaml)')
    .option('--key <id...>', 'id(s) of the API key(s) to replace (default: the keys the inventory hosts use)')
    .option('--grace <duration>', 'roll the key: the old one keeps working for this long (e.g. 1h)')
    .option('--concurrency <n>', 'hosts deployed at once', '10')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--resume', 'continue the unfinished rotation in the journal')
    .option('--force', 'revoke the old key even if some hosts are not on the new key')
    .option('--json', 'print the report as JSON')
    .option('--journal <file>', 'journal file (default: .rekey-rotate.journal.json next to the inventory)')
    .option('--verify-timeout <duration>', 'how long to wait for each host to be seen on the new key', '60s')
    .option('--recent <duration>', 'an old key used within this window counts as in use', '24h')
    .option('--url <url>', 'API base URL (default from DD_SITE, e.g. datadoghq.com)')
    .addHelpText(
      'after',
      '\nCredentials: DD_API_KEY and DD_APP_KEY (environment). Server: --url, or DD_SITE (datadoghq.com → https://api.datadoghq.com).\nExit codes: 0 every host verified and the old key revoked; 1 a host failed or the old key was kept; 2 bad usage or input.',
    )
    .action(async (flags: RotateFlags) => {
      const [{ parseDuration }, { loadInventory }, { DatadogClient, siteUrl }, { defaultJournalPath }, { rotate }, { createProgress }, { formatReport }] =
        await Promise.all([
          import('../rotate/duration.js'),
          import('../rotate/inventory.js'),
          import('../rotate/datadog-client.js'),
          import('../rotate/journal.js'),
          import('../rotate/rotation.js'),
          import('../rotate/progress.js'),
          import('../rotate/report.js'),
        ]);
      const { resolve } = await import('node:path');
      const duration = (text: string, flag: string): number => {
        const ms = parseDuration(text);
        if (ms === undefined || ms <= 0) throw rekeyError('USAGE', { detail: `${flag} "${text}" is not a duration (e.g. 90s, 5m, 1h)` });
        return ms;
      };
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
        throw rekeyError('USAGE', { detail: `--concurrency must be a whole number 1-1000 (got ${flags.concurrency})` });
      }
      if (flags.resume && flags.dryRun) throw rekeyError('USAGE', { detail: '--resume and --dry-run cannot be combined' });
      const apiKey = process.env['DD_API_KEY'];
      const appKey = process.env['DD_APP_KEY'] ?? process.env['DD_APPLICATION_KEY'];
      if (!apiKey || !appKey)
        throw rekeyError('USAGE', { detail: 'Set DD_API_KEY and DD_APP_KEY in the environment (an API key and an application key of the organisation)' });
      const site = flags.url ?? process.env['DD_SITE'];
      if (!site) throw rekeyError('USAGE', { detail: 'Say which server to talk to: --url https://… or DD_SITE (e.g. datadoghq.com)' });

      const inventory = loadInventory(resolve(flags.inventory));
      const journalPath = resolve(flags.journal ?? defaultJournalPath(inventory.file));
      const progress = createProgress(process.stderr);
      const report = await rotate({
        inventory,
        client: new DatadogClient({ url: siteUrl(site), apiKey, appKey }),
        journalPath,
        keyIds: flags.key,
        graceMs: flags.grace === undefined ? undefined : duration(flags.grace, '--grace'),
        concurrency,
        dryRun: flags.dryRun ?? false,
        resume: flags.resume ?? false,
        force: flags.force ?? false,
        verifyTimeoutMs: duration(flags.verifyTimeout, '--verify-timeout'),
        recentWindowMs: duration(flags.recent, '--recent'),
        progress,
      }).finally(() => progress.close());
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      process.exitCode = report.exit_code;
    });
}
