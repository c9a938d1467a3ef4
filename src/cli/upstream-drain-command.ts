/**
 * `rekey upstream drain --spool DIR`: delivers the payloads another relay node acknowledged and
 * did not deliver — its spool directory, copied from a node that is gone — through this
 * deployment's upstream settings (src/relay/spool-drain.ts, docs/scaling.md "Losing a node").
 * Safe to run again: what was delivered is recorded in DIR and not sent again.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';

interface DrainFlags {
  data?: string;
  spool: string;
  timeout: string;
  json?: boolean;
}

/** Adds `drain` to the `rekey upstream` command. */
export function registerUpstreamDrainCommand(upstream: Command): void {
  upstream
    .command('drain')
    .description("Deliver the undelivered payloads of another node's spool directory (copied from a lost node) through this deployment's upstreams")
    .requiredOption('--spool <dir>', "the lost node's relay spool directory (its <data>/relay-spool, or its REKEY_RELAY_SPOOL_DIR)")
    .option('--timeout <duration>', 'how long to keep trying (backoff, Retry-After, a refused upstream key) before reporting what is left', '10m')
    .option('--json', 'print the report as JSON')
    .option('--data <dir>', 'data directory for embedded SQLite and the deployment secret (env REKEY_DATA, default ./data)')
    .addHelpText(
      'after',
      "\nExample: rekey upstream drain --spool /mnt/old-node/data/relay-spool\nThe payloads go to their organisation's upstream as set in this deployment's database (shared by the nodes: PostgreSQL), with the same rules as a relay node: backoff with jitter, Retry-After, a refused upstream key waits for `rekey upstream set`, 400/413… become dead letters in <spool>/dead-letters (REKEY_RELAY_SPOOL_DIR=<spool> rekey upstream dead-letters lists them).\nNever drain the spool of a node that is running, or that will be started again on it: its payloads would be sent twice.\nExit codes: 0 every payload delivered or dead-lettered; 1 some still wait after --timeout (run it again: delivered ones are not sent again); 2 bad usage.",
    )
    .action(async (flags: DrainFlags) => {
      const { resolve } = await import('node:path');
      const { parseDuration } = await import('../rotate/duration.js');
      const { withStore } = await import('./with-store.js');
      const { drainSpool } = await import('../relay/spool-drain.js');
      const { relaySettingsFromEnv } = await import('../relay/relay.js');
      const { DEFAULT_DATA_DIR } = await import('../store/open-store.js');
      const timeoutMs = parseDuration(flags.timeout);
      if (timeoutMs === undefined) throw rekeyError('USAGE', { detail: `--timeout "${flags.timeout}" is not a duration (e.g. 30s, 10m)` });
      const spoolDir = resolve(flags.spool);
      const dataDir = resolve(flags.data ?? (process.env.REKEY_DATA || DEFAULT_DATA_DIR));
      // The same timing knobs as the server's relay (REKEY_RELAY_RETRY_MAX_MS…), and its deployment default upstream.
      const settings = relaySettingsFromEnv(process.env, dataDir);
      if (resolve(settings.spoolDir) === spoolDir) {
        throw rekeyError('USAGE', { detail: `${spoolDir} is this node's own spool: a relay started on it delivers it; drain is for a lost node's spool` });
      }
      const say = (line: string) => {
        if (!flags.json) process.stdout.write(`${line}\n`);
      };
      const report = await withStore(flags.data, (store) =>
        drainSpool({
          store,
          spoolDir,
          timeoutMs,
          ...(settings.delivery === undefined ? {} : { delivery: settings.delivery }),
          ...(settings.defaults === undefined ? {} : { defaults: settings.defaults }),
          ...(settings.pollMs === undefined ? {} : { pollMs: settings.pollMs }),
          say,
          // Delivery's own notes (a refused key, a backoff) are progress too: stdout, unless it carries the JSON report.
          warn: (line) => (flags.json ? process.stderr : process.stdout).write(`  ${line}\n`),
        }),
      );
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...report, spool: spoolDir })}\n`);
      else say(`Delivered ${report.delivered} of ${report.found} payload(s); ${report.deadLettered} dead-lettered; ${report.remaining} left.`);
      if (report.remaining > 0) {
        throw rekeyError('UPSTREAM_DRAIN_INCOMPLETE', {
          remaining: report.remaining,
          found: report.found,
          timeout: flags.timeout,
          why: report.problems.join('; ') || 'the upstream did not take them in time',
        });
      }
    });
}
