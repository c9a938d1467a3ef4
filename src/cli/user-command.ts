/**
 * `rekey user create --org ORG --email E --role R [--name N] [--password-stdin]`: a user in
 * an organisation (by name or id). The password comes from stdin, never argv; without
 * `--password-stdin` one is generated and shown once.
 */
import { Option, type Command } from 'commander';
import { ROLES, type Role } from '../store/store.js';

interface UserFlags {
  data?: string;
  json?: boolean;
  org: string;
  email: string;
  role: Role;
  name?: string;
  passwordStdin?: boolean;
}

/** Short enough to type, long enough not to be guessed in the rate limit's window. */
const MIN_PASSWORD_LENGTH = 12;

export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('Manage users');
  user
    .command('create')
    // Bad usage (e.g. an invalid --role) must reach run-cli's catch (exit 2), not exit(1) here.
    .description('Create a user in an organisation')
    .requiredOption('--org <org>', 'organisation name or id')
    .requiredOption('--email <email>', 'email address (unique across the deployment)')
    .addOption(new Option('--role <role>', 'role').choices(ROLES).makeOptionMandatory())
    .option('--name <name>', 'display name (default: the part of the email before @)')
    .option('--password-stdin', `read the password from stdin (at least ${MIN_PASSWORD_LENGTH} characters); default: generate one`)
    .option('--data <dir>', 'data directory for embedded SQLite (env REKEY_DATA, default ./data)')
    .option('--json', 'print the user (and a generated password) as JSON')
    .addHelpText('after', '\nPostgreSQL instead of SQLite: set REKEY_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB.')
    .action(async (flags: UserFlags) => {
      const [{ withStore }, { readStdin }, { generatePassword, hashPassword }, { rekeyError }] = await Promise.all([
        import('./with-store.js'),
        import('./run-cli.js'),
        import('../keys/password.js'),
        import('../errors.js'),
      ]);
      let password: string;
      let generated = false;
      if (flags.passwordStdin) {
        password = (await readStdin()).replace(/\r?\n$/, '');
        if (password.length < MIN_PASSWORD_LENGTH) {
          throw rekeyError('USAGE', {
            detail: `the password on stdin has ${password.length} characters; it needs at least ${MIN_PASSWORD_LENGTH}`,
          });
        }
      } else {
        password = generatePassword();
        generated = true;
      }
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (!org) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const created = await store.createUser(
          org.id,
          {
            email: flags.email,
            name: flags.name ?? flags.email.split('@')[0] ?? flags.email,
            role: flags.role,
            passwordHash: await hashPassword(password),
          },
          { userId: null, kind: 'cli', sourceIp: null },
        );
        const shown = { id: created.id, org: { id: org.id, name: org.name }, email: created.email, name: created.name, role: created.role };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(generated ? { ...shown, password } : shown)}\n`);
        } else {
          process.stdout.write(`Created ${created.role} user ${created.email} in "${org.name}" (id ${created.id}).\n`);
          if (generated) process.stdout.write(`Password (shown only this once): ${password}\n`);
        }
      });
    });
}
