/**
 * `rekey key-limits …`: the optional per-key limits (issue 19; src/intake/key-limits.ts), an
 * admin task on the machine that holds the database, audited as the CLI:
 *
 *   rekey key-limits set --org ORG --key KEY_ID [--requests-per-second N] [--points-per-minute N] [--bytes-per-day N]
 *   rekey key-limits show --org ORG [--json]
 *
 * Each limit takes a positive whole number, or `none` to remove it; a limit not named keeps
 * its stored value. Every intake node applies a change within 2 s. The same through the API:
 * `PUT /api/v2/api_keys/{id}/limits` (admin).
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';
import type { ApiKeyLimits } from '../store/store.js';

interface SetFlags {
  data?: string;
  org: string;
  key: string;
  requestsPerSecond?: string;
  pointsPerMinute?: string;
  bytesPerDay?: string;
  json?: boolean;
}

interface ShowFlags {
  data?: string;
  org: string;
  key?: string;
  json?: boolean;
}

const CLI_ACTOR = { userId: null, kind: 'cli' as const, sourceIp: null };
const DATA_OPTION = ['--data <dir>', 'data directory for embedded SQLite (env REKEY_DATA, default ./data)'] as const;

export function registerKeyLimitsCommand(program: Command): void {
  const limits = program
    .command('key-limits')
    .description('Optional per-key intake limits: requests per second, points per minute, bytes per day (429 beyond them)');

  limits
    .command('set')
    .description("Set an API key's limits (a limit not named keeps its value; none removes it)")
    .requiredOption('--org <org>', 'organisation name or id')
    .requiredOption('--key <id>', 'the API key id (as GET /api/v2/api_keys lists it)')
    .option('--requests-per-second <n>', 'intake requests per second, or none')
    .option('--points-per-minute <n>', 'points of series payloads per minute, or none')
    .option('--bytes-per-day <n>', 'body bytes as sent per UTC day, or none')
    .option('--json', 'print the limits as JSON')
    .option(...DATA_OPTION)
    .addHelpText(
      'after',
      '\nExample: rekey key-limits set --org acme --key 7f0c… --requests-per-second 50 --bytes-per-day 1000000000\nEvery intake node applies the change within 2 s; beyond a limit the intake answers 429 with Retry-After.',
    )
    .action(async (flags: SetFlags) => {
      const { withStore } = await import('./with-store.js');
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (org === undefined) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const current = await store.getApiKeyLimits(org.id, flags.key);
        const next: ApiKeyLimits = {
          requestsPerSecond: limitFlag('--requests-per-second', flags.requestsPerSecond, current.requestsPerSecond),
          pointsPerMinute: limitFlag('--points-per-minute', flags.pointsPerMinute, current.pointsPerMinute),
          bytesPerDay: limitFlag('--bytes-per-day', flags.bytesPerDay, current.bytesPerDay),
        };
        const set = await store.setApiKeyLimits(org.id, flags.key, next, CLI_ACTOR);
        process.stdout.write(flags.json ? `${JSON.stringify({ key_id: flags.key, ...wire(set) })}\n` : `Limits of key ${flags.key}: ${describe(set)}.\n`);
      });
    });

  limits
    .command('show')
    .description("List the organisation's keys that have limits (or one key's, with --key)")
    .requiredOption('--org <org>', 'organisation name or id')
    .option('--key <id>', 'only this API key id')
    .option('--json', 'print JSON lines')
    .option(...DATA_OPTION)
    .action(async (flags: ShowFlags) => {
      const { withStore } = await import('./with-store.js');
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (org === undefined) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const rows = (await store.listApiKeyLimits()).filter((row) => row.orgId === org.id && (flags.key === undefined || row.keyId === flags.key));
        if (flags.json) for (const row of rows) process.stdout.write(`${JSON.stringify({ key_id: row.keyId, ...wire(row) })}\n`);
        else if (rows.length === 0)
          process.stdout.write(
            flags.key === undefined
              ? `No key of organization "${org.name}" has limits.\n`
              : `API key ${flags.key} of organization "${org.name}" has no limits.\n`,
          );
        else for (const row of rows) process.stdout.write(`${row.keyId}: ${describe(row)}\n`);
      });
    });
}

/** A flag's new value: a positive whole number, `none` (null), or the current value when not given. */
function limitFlag(name: string, text: string | undefined, current: number | null): number | null {
  if (text === undefined) return current;
  if (text.trim().toLowerCase() === 'none') return null;
  if (!/^\d{1,16}$/.test(text.trim()) || !(Number(text) > 0) || !Number.isSafeInteger(Number(text)))
    throw rekeyError('USAGE', { detail: `${name} "${text}" must be a positive whole number, or none` });
  return Number(text);
}

function wire(limits: ApiKeyLimits) {
  return { requests_per_second: limits.requestsPerSecond, points_per_minute: limits.pointsPerMinute, bytes_per_day: limits.bytesPerDay };
}

function describe(limits: ApiKeyLimits): string {
  const parts = [
    limits.requestsPerSecond === null ? null : `${limits.requestsPerSecond} requests/s`,
    limits.pointsPerMinute === null ? null : `${limits.pointsPerMinute} points/min`,
    limits.bytesPerDay === null ? null : `${limits.bytesPerDay} bytes/day`,
  ].filter((part) => part !== null);
  return parts.length === 0 ? 'none' : parts.join(', ');
}
