/**
 * `rekey upstream …`: relay mode's upstream per organisation (docs/relay.md).
 *
 *   rekey upstream set --org ORG --site SITE --key-stdin [--mode relay|standalone] [--metrics-url U] [--logs-url U] [--traces-url U]
 *   rekey upstream show [--org ORG] [--json]        (never shows the key: its last 4 characters)
 *   rekey upstream dead-letters [--json]            (payloads the upstream refused for good)
 *   rekey upstream rotate --org ORG [--resume]      (upstream-rotate-command.ts)
 *   rekey upstream drain --spool DIR                (upstream-drain-command.ts: a lost node's spool)
 *
 * The upstream key comes from stdin, never argv (it would show in `ps` and shell history), is
 * encrypted under the deployment secret before it reaches the database
 * (src/relay/upstream-crypto.ts), and every relay node picks the change up within seconds —
 * including a delivery held because the upstream refused the previous key.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';
import { registerUpstreamDrainCommand } from './upstream-drain-command.js';
import { registerUpstreamRotateCommand } from './upstream-rotate-command.js';

interface SetFlags {
  data?: string;
  org: string;
  site?: string;
  mode?: string;
  keyStdin?: boolean;
  metricsUrl?: string;
  logsUrl?: string;
  tracesUrl?: string;
  allowInsecure?: boolean;
}

interface ShowFlags {
  data?: string;
  org?: string;
  json?: boolean;
}

const CLI_ACTOR = { userId: null, kind: 'cli' as const, sourceIp: null };
const DATA_OPTION = ['--data <dir>', 'data directory for embedded SQLite and the deployment secret (env REKEY_DATA, default ./data)'] as const;

export function registerUpstreamCommand(program: Command): void {
  const upstream = program
    .command('upstream')
    .description("Relay mode: where an organisation's payloads are forwarded, and with which upstream key (docs/relay.md)");

  upstream
    .command('set')
    .description("Set an organisation's upstream (a Datadog site or a URL) and upstream API key; puts it in relay mode")
    .requiredOption('--org <org>', 'organisation name or id')
    .option('--site <site>', 'Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, …) or a base URL (another rekey, a Vector datadog_agent source)')
    .option('--mode <mode>', 'relay (forward payloads) or standalone (store them here)', 'relay')
    .option('--key-stdin', 'read the upstream API key from stdin (required the first time; without it the stored key is kept)')
    .option('--metrics-url <url>', 'base URL for metrics, check runs, events, metadata (default from --site)')
    .option('--logs-url <url>', 'base URL for logs (default from --site)')
    .option('--traces-url <url>', 'base URL for traces (default from --site)')
    .option(
      '--allow-insecure',
      'accept http:// URLs to other machines (the upstream key would cross the network in clear); http://localhost is always accepted',
    )
    .option(...DATA_OPTION)
    .addHelpText(
      'after',
      '\nExample: printf %s "$DD_API_KEY" | rekey upstream set --org acme --site datadoghq.eu --key-stdin\nEvery relay node uses the new settings at once (PostgreSQL) or within 2 s; a delivery held or backing off resumes at once.',
    )
    .action(async (flags: SetFlags) => {
      const { saveUpstream } = await import('../relay/upstream-settings.js');
      const { readStdin } = await import('./run-cli.js');
      const { withStore } = await import('./with-store.js');
      const apiKey = flags.keyStdin ? (await readStdin()).replace(/\r?\n$/, '').trim() : undefined;
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (org === undefined) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const saved = await saveUpstream(
          store,
          org.id,
          {
            mode: flags.mode ?? 'relay',
            site: flags.site,
            apiKey,
            urls: { metrics: flags.metricsUrl, logs: flags.logsUrl, traces: flags.tracesUrl },
            allowInsecure: flags.allowInsecure === true,
            names: { site: '--site', apiKey: '--key-stdin', metrics: '--metrics-url', logs: '--logs-url', traces: '--traces-url' },
          },
          CLI_ACTOR,
        );
        process.stdout.write(`Organization "${org.name}": ${saved.mode} mode, upstream ${saved.site}, upstream key …${saved.apiKeyLast4}.\n`);
      });
    });

  upstream
    .command('show')
    .description("Show each organisation's mode and upstream (never the key: its last 4 characters)")
    .option('--org <org>', 'only this organisation (name or id)')
    .option('--json', 'print JSON')
    .option(...DATA_OPTION)
    .action(async (flags: ShowFlags) => {
      const { upstreamUrls } = await import('../relay/upstream-site.js');
      const { withStore } = await import('./with-store.js');
      await withStore(flags.data, async (store) => {
        const orgs = flags.org === undefined ? await store.listOrgs() : [await store.findOrg(flags.org)];
        if (orgs[0] === undefined) throw rekeyError('ORG_NOT_FOUND', { org: flags.org ?? '' });
        const rows = [];
        for (const org of orgs) {
          if (org === undefined) continue;
          const settings = await store.getUpstream(org.id);
          if (settings === undefined && flags.org !== undefined) throw rekeyError('UPSTREAM_NOT_SET', { org: org.name });
          rows.push({
            org: org.name,
            org_id: org.id,
            mode: settings?.mode ?? 'standalone',
            site: settings?.site ?? null,
            urls: settings === undefined ? null : upstreamUrls(settings.site, settings.urls),
            api_key_last4: settings?.apiKeyLast4 ?? null,
            updated_at: settings?.updatedAt.toISOString() ?? null,
          });
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(flags.org === undefined ? rows : rows[0])}\n`);
          return;
        }
        for (const row of rows) {
          if (row.urls === null) {
            process.stdout.write(`${row.org} (${row.org_id}): standalone, no upstream\n`);
            continue;
          }
          process.stdout.write(`${row.org} (${row.org_id}): ${row.mode}, site ${row.site}, upstream key …${row.api_key_last4}, set ${row.updated_at}\n`);
          process.stdout.write(`  metrics ${row.urls.metrics}\n  logs    ${row.urls.logs}\n  traces  ${row.urls.traces}\n`);
        }
      });
    });

  registerUpstreamRotateCommand(upstream);
  registerUpstreamDrainCommand(upstream);

  upstream
    .command('dead-letters')
    .description('List the payloads the upstream refused for good (400, 413…), kept 7 days in <spool>/dead-letters')
    .option('--json', "print JSON (with each payload's body, base64)")
    .option(...DATA_OPTION)
    .addHelpText('after', '\nThe spool is <data>/relay-spool, or REKEY_RELAY_SPOOL_DIR.')
    .action(async (flags: { data?: string; json?: boolean }) => {
      const { join, resolve } = await import('node:path');
      const { DeadLetters } = await import('../relay/dead-letters.js');
      const { RELAY_SPOOL_DIR_NAME } = await import('../relay/relay.js');
      const { DEFAULT_DATA_DIR } = await import('../store/open-store.js');
      const spoolDir =
        process.env.REKEY_RELAY_SPOOL_DIR?.trim() || join(resolve(flags.data ?? (process.env.REKEY_DATA || DEFAULT_DATA_DIR)), RELAY_SPOOL_DIR_NAME);
      const letters = new DeadLetters(spoolDir).list();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(letters)}\n`);
        return;
      }
      process.stdout.write(`${letters.length} dead letter(s) in ${join(spoolDir, 'dead-letters')}\n`);
      for (const letter of letters) {
        process.stdout.write(
          `${letter.refusedAt}  org ${letter.orgId}  POST ${letter.path}  → ${letter.status}  ${letter.bodyBytes} bytes  ${letter.answer.replace(/\s+/g, ' ').slice(0, 120)}\n`,
        );
      }
    });
}
