/**
 * `rekey init`: creates the first organisation, its admin user, its first API key and
 * application key, and prints them once (docs/product.md §1). With `--json`, exactly one JSON
 * object: {"org":{"id","name"},"admin":{"email","password"},"api_key":{"id","key","last4"},
 * "app_key":{"id","key","last4"}}. On an initialised store it changes nothing and exits 2.
 */
import type { Command } from 'commander';
import type { BootstrapCredentials } from '../store/bootstrap.js';

interface InitFlags {
  data?: string;
  json?: boolean;
  org?: string;
  adminEmail?: string;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    // Bad usage (e.g. an invalid --role) must reach run-cli's catch (exit 2), not exit(1) here.
    .description('Initialise a new deployment: first organisation, admin user, API key and application key (shown once)')
    .option('--data <dir>', 'data directory for embedded SQLite and the deployment secret (env REKEY_DATA, default ./data)')
    .option('--org <name>', 'name of the first organisation', 'Default organization')
    .option('--admin-email <email>', 'email of the admin user', 'admin@rekey.local')
    .option('--json', 'print the credentials as one JSON object')
    .addHelpText('after', '\nPostgreSQL instead of SQLite: set REKEY_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB.')
    .action(async (flags: InitFlags) => {
      const [{ withStore }, { bootstrapDeployment }, { createKeyHasher }, { rekeyError }] = await Promise.all([
        import('./with-store.js'),
        import('../store/bootstrap.js'),
        import('../keys/key-hasher.js'),
        import('../errors.js'),
      ]);
      await withStore(flags.data, async (store, location) => {
        // Checked before the secret is touched, so an initialised store is left exactly as it was.
        if (await store.isInitialised()) throw rekeyError('ALREADY_INITIALISED', { where: location.description });
        const hasher = createKeyHasher(await store.deploymentSecret());
        const credentials = await bootstrapDeployment(store, hasher, {
          ...(flags.org !== undefined ? { orgName: flags.org } : {}),
          ...(flags.adminEmail !== undefined ? { adminEmail: flags.adminEmail } : {}),
          actor: { userId: null, kind: 'cli', sourceIp: null },
          where: location.description,
        });
        process.stdout.write(flags.json ? `${JSON.stringify(credentials)}\n` : summary(credentials, location.description, store.dialect));
      });
    });
}

function summary(c: BootstrapCredentials, where: string, dialect: string): string {
  return [
    `Initialised rekey in ${where} (${dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}).`,
    '',
    `  Organization     ${c.org.name}  (id ${c.org.id})`,
    `  Admin email      ${c.admin.email}`,
    `  Admin password   ${c.admin.password}`,
    `  API key          ${c.api_key.key}  (id ${c.api_key.id})`,
    `  Application key  ${c.app_key.key}  (id ${c.app_key.id})`,
    '',
    'These credentials are shown only this once: store them in your password manager now.',
    '',
  ].join('\n');
}
