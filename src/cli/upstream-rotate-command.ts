/**
 * `rekey upstream rotate --org ORG [--resume]`: replaces the upstream API key the relay holds,
 * through the upstream's own API (src/relay/upstream-rotation.ts, docs/relay.md): create a new
 * key, switch every relay node to it, verify a real payload is accepted with it, wait until
 * every live relay node confirms it forwards with it, revoke the old one. The upstream application key comes from DD_APP_KEY or stdin (`--app-key-stdin`), never
 * argv.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';

interface RotateFlags {
  data?: string;
  org: string;
  appKeyStdin?: boolean;
  resume?: boolean;
  journal?: string;
  settle: string;
  acceptTimeout: string;
}

const DAY_MS = 86_400_000;
const CLI_ACTOR = { userId: null, kind: 'cli' as const, sourceIp: null };

/** Adds `rotate` to the `rekey upstream` command. */
export function registerUpstreamRotateCommand(upstream: Command): void {
  upstream
    .command('rotate')
    .description(
      'Replace the upstream API key: create a new one upstream, switch every relay node to it, verify, wait for each live node to confirm, revoke the old one (journaled, resumable)',
    )
    .requiredOption('--org <org>', 'organisation name or id')
    .option('--app-key-stdin', 'read the upstream application key from stdin (else DD_APP_KEY)')
    .option('--resume', 'continue the unfinished rotation recorded in the journal')
    .option('--journal <file>', 'journal file (default <data>/upstream-rotate-<org id>.journal.json)')
    .option(
      '--settle <duration>',
      'at most this long for every live relay node (reported within 3 of its poll intervals, 10 s at least) to confirm it forwards with the new key; else the old key is not revoked (exit 1; --resume waits again)',
      '30s',
    )
    .option('--accept-timeout <duration>', 'how long the upstream may take to accept the new key', '60s')
    .option('--data <dir>', 'data directory for embedded SQLite and the deployment secret (env REKEY_DATA, default ./data)')
    .addHelpText(
      'after',
      '\nExample: DD_APP_KEY=… rekey upstream rotate --org acme\nThe application key must belong to the upstream organisation (Datadog: Organization Settings → Application Keys).\nExit codes: 0 rotated (old key revoked); 1 a step failed, or a relay node did not confirm the new key (the journal keeps it resumable: --resume); 2 bad usage, or a rotation is already unfinished.',
    )
    .action(async (flags: RotateFlags) => {
      const { join, resolve } = await import('node:path');
      const { parseDuration } = await import('../rotate/duration.js');
      const { readStdin } = await import('./run-cli.js');
      const { withStore } = await import('./with-store.js');
      const { rotateUpstreamKey } = await import('../relay/upstream-rotation.js');
      const { DEFAULT_DATA_DIR } = await import('../store/open-store.js');
      const appKey = (flags.appKeyStdin ? await readStdin() : (process.env['DD_APP_KEY'] ?? process.env['DD_APPLICATION_KEY'] ?? '')).trim();
      if (appKey === '' || /\s/.test(appKey))
        throw rekeyError('USAGE', { detail: "Give the upstream organisation's application key in DD_APP_KEY or on stdin with --app-key-stdin" });
      const settleMs = parseDuration(flags.settle);
      const acceptTimeoutMs = parseDuration(flags.acceptTimeout);
      if (settleMs === undefined) throw rekeyError('USAGE', { detail: `--settle "${flags.settle}" is not a duration (e.g. 6s, 500ms)` });
      if (acceptTimeoutMs === undefined) throw rekeyError('USAGE', { detail: `--accept-timeout "${flags.acceptTimeout}" is not a duration (e.g. 60s, 2m)` });
      // Both are waits of this one command: a day is far beyond any real one, and a larger value
      // (999999h, or 1 followed by 400 zeros, which parses as Infinity) is a typo.
      if (settleMs > DAY_MS) throw rekeyError('USAGE', { detail: `--settle "${flags.settle}" is longer than a day (24h)` });
      if (acceptTimeoutMs > DAY_MS) throw rekeyError('USAGE', { detail: `--accept-timeout "${flags.acceptTimeout}" is longer than a day (24h)` });
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (org === undefined) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const dataDir = resolve(flags.data ?? (process.env.REKEY_DATA || DEFAULT_DATA_DIR));
        const journalPath = resolve(flags.journal ?? join(dataDir, `upstream-rotate-${org.id}.journal.json`));
        await rotateUpstreamKey({
          store,
          orgId: org.id,
          orgName: org.name,
          appKey,
          journalPath,
          resume: flags.resume === true,
          settleMs,
          acceptTimeoutMs,
          actor: CLI_ACTOR,
          say: (line) => process.stdout.write(`${line}\n`),
        });
      });
    });
}
