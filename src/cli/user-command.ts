/**
 * `rekey user create --org ORG --email E --role R [--name N] [--password-stdin]`: a user in
 * an organisation (by name or id). The password comes from stdin, never argv; without
 * `--password-stdin` one is generated and shown once.
 *
 * The lifecycle, for an operator with the data directory or database (e.g. the last admin has
 * lost their password); each is audited with actor kind `cli` and takes effect on a running
 * server at its next request (web sessions, application keys):
 *   `rekey user disable --email E`, `rekey user enable --email E [--app-keys]`,
 *   `rekey user delete --email E --yes`, `rekey user reset-password --email E` (generated,
 *   shown once), `rekey user set-password --email E --password-stdin`.
 */
import { Option, type Command } from 'commander';
import { MIN_PASSWORD_LENGTH } from '../keys/password-rules.js';
import { ROLES, type Actor, type Role, type User } from '../store/store.js';
import type { UserCaller, UsersService } from '../users/users-service.js';

interface UserFlags {
  data?: string;
  json?: boolean;
  org: string;
  email: string;
  role: Role;
  name?: string;
  passwordStdin?: boolean;
}

const CLI_ACTOR: Actor = { userId: null, kind: 'cli', sourceIp: null };
const DATA_HELP = 'data directory for embedded SQLite (env REKEY_DATA, default ./data)';
const PG_HELP = '\nPostgreSQL instead of SQLite: set REKEY_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB.';

interface LifecycleFlags {
  data?: string;
  json?: boolean;
  email: string;
  appKeys?: boolean;
  yes?: boolean;
  passwordStdin?: boolean;
}

/** The operator at the command line, in `orgId`: every right (they hold the database). */
const operatorIn = (orgId: string): UserCaller => ({ orgId, actor: CLI_ACTOR, operator: true });

/** Opens the store, finds the user by email (unique across the deployment) and runs `fn` through the users service. */
async function withUser(flags: LifecycleFlags, fn: (users: UsersService, caller: UserCaller, user: User) => Promise<string>): Promise<void> {
  const [{ withStore }, { rekeyError }, { UsersService }] = await Promise.all([
    import('./with-store.js'),
    import('../errors.js'),
    import('../users/users-service.js'),
  ]);
  await withStore(flags.data, async (store) => {
    const user = await store.findUserByEmail(flags.email);
    if (!user) throw rekeyError('USER_NOT_FOUND');
    process.stdout.write(await fn(new UsersService(store), operatorIn(user.orgId), user));
  });
}

function shown(user: User, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ id: user.id, org_id: user.orgId, email: user.email, role: user.role, disabled: user.disabled, ...extra })}\n`;
}

/** The password on stdin (one trailing newline dropped); the users service checks it. */
async function passwordFromStdin(): Promise<string> {
  const { readStdin } = await import('./run-cli.js');
  return (await readStdin()).replace(/\r?\n$/, '');
}

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
      const [{ withStore }, { rekeyError }, { UsersService }] = await Promise.all([
        import('./with-store.js'),
        import('../errors.js'),
        import('../users/users-service.js'),
      ]);
      const chosen = flags.passwordStdin ? await passwordFromStdin() : undefined;
      await withStore(flags.data, async (store) => {
        const org = await store.findOrg(flags.org);
        if (!org) throw rekeyError('ORG_NOT_FOUND', { org: flags.org });
        const {
          user: created,
          password,
          generated,
        } = await new UsersService(store).createUser(operatorIn(org.id), {
          email: flags.email,
          name: flags.name ?? flags.email.split('@')[0] ?? flags.email,
          role: flags.role,
          ...(chosen === undefined ? {} : { password: chosen }),
        });
        const shown = { id: created.id, org: { id: org.id, name: org.name }, email: created.email, name: created.name, role: created.role };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(generated ? { ...shown, password } : shown)}\n`);
        } else {
          process.stdout.write(`Created ${created.role} user ${created.email} in "${org.name}" (id ${created.id}).\n`);
          if (generated) process.stdout.write(`Password (shown only this once): ${password}\n`);
        }
      });
    });

  user
    .command('disable')
    .description('Disable a user: they cannot sign in, their web sessions end and their application keys stop working (kept, disabled)')
    .requiredOption('--email <email>', "the user's email")
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the user as JSON')
    .addHelpText('after', `\nThe organisation's last enabled admin cannot be disabled.${PG_HELP}`)
    .action(async (flags: LifecycleFlags) =>
      withUser(flags, async (users, caller, found) => {
        const user = await users.setDisabled(caller, found.id, true);
        return flags.json ? shown(user) : `Disabled ${user.email}: signed out everywhere, application keys disabled.\n`;
      }),
    );

  user
    .command('enable')
    .description('Enable a disabled user; their application keys stay disabled unless --app-keys is given')
    .requiredOption('--email <email>', "the user's email")
    .option('--app-keys', "also re-enable the user's disabled application keys")
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the user as JSON')
    .addHelpText('after', PG_HELP)
    .action(async (flags: LifecycleFlags) =>
      withUser(flags, async (users, caller, found) => {
        const user = await users.setDisabled(caller, found.id, false, { enableAppKeys: flags.appKeys === true });
        if (flags.json) return shown(user);
        return `Enabled ${user.email}${flags.appKeys ? ' and their application keys' : '; their application keys stay disabled (--app-keys re-enables them)'}.\n`;
      }),
    );

  user
    .command('delete')
    .description('Delete a user and their application keys; the audit trail keeps their events')
    .requiredOption('--email <email>', "the user's email")
    .option('--yes', 'confirm: the user and their application keys cannot be restored')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the deleted user as JSON')
    .addHelpText('after', `\nThe organisation's last enabled admin cannot be deleted.${PG_HELP}`)
    .action(async (flags: LifecycleFlags) => {
      if (!flags.yes) {
        const { rekeyError } = await import('../errors.js');
        throw rekeyError('USAGE', { detail: `deleting ${flags.email} cannot be undone; add --yes (or disable the user instead)` });
      }
      await withUser(flags, async (users, caller, user) => {
        await users.deleteUser(caller, user.id);
        return flags.json ? shown(user, { deleted: true }) : `Deleted ${user.email} and their application keys.\n`;
      });
    });

  user
    .command('reset-password')
    .description('Give a user a generated password, shown once; ends their web sessions and disables their application keys')
    .requiredOption('--email <email>', "the user's email")
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the user and the password as JSON')
    .addHelpText('after', PG_HELP)
    .action(async (flags: LifecycleFlags) => {
      await withUser(flags, async (users, caller, found) => {
        const { user, password } = await users.resetPassword(caller, found.id);
        return flags.json
          ? shown(user, { password })
          : `Reset the password of ${user.email}; their web sessions ended and their application keys are disabled.\nPassword (shown only this once): ${password}\n`;
      });
    });

  user
    .command('set-password')
    .description("Set a user's password from stdin (never argv); ends their web sessions")
    .requiredOption('--email <email>', "the user's email")
    .requiredOption('--password-stdin', `read the new password from stdin (at least ${MIN_PASSWORD_LENGTH} characters)`)
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the user as JSON')
    .addHelpText('after', `\nAudited as user.password_reset, like reset-password, and likewise disables the user's application keys.${PG_HELP}`)
    .action(async (flags: LifecycleFlags) => {
      const password = await passwordFromStdin();
      await withUser(flags, async (users, caller, found) => {
        const user = await users.setPassword(caller, found.id, password);
        return flags.json ? shown(user) : `Set the password of ${user.email}; their web sessions ended and their application keys are disabled.\n`;
      });
    });
}
