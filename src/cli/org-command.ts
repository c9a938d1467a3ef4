/**
 * `rekey org create NAME`: a new organisation (an admin task, audited as the CLI). Its first
 * API key comes from `rekey user create` + the API, or from the web UI.
 */
import type { Command } from 'commander';

interface OrgFlags {
  data?: string;
  json?: boolean;
}

export function registerOrgCommand(program: Command): void {
  const org = program.command('org').description('Manage organisations');
  org
    .command('create')
    // Bad usage (e.g. an invalid --role) must reach run-cli's catch (exit 2), not exit(1) here.
    .description('Create an organisation')
    .argument('<name>', 'organisation name (1-255 characters, unique)')
    .option('--data <dir>', 'data directory for embedded SQLite (env REKEY_DATA, default ./data)')
    .option('--json', 'print the organisation as JSON')
    .addHelpText('after', '\nPostgreSQL instead of SQLite: set REKEY_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB.')
    .action(async (name: string, flags: OrgFlags) => {
      const { withStore } = await import('./with-store.js');
      await withStore(flags.data, async (store) => {
        const created = await store.createOrg(name, { userId: null, kind: 'cli', sourceIp: null });
        process.stdout.write(
          flags.json ? `${JSON.stringify({ id: created.id, name: created.name })}\n` : `Created organization "${created.name}" (id ${created.id}).\n`,
        );
      });
    });
}
