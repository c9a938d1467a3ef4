/**
 * The one way users are created and changed: the management API (src/server/routes/
 * user-routes.ts), the web UI (src/ui/routes/org-routes.ts) and `rekey user …`
 * (src/cli/user-command.ts) all come here, so a password is made, checked and hashed one way,
 * and each change asks the one access policy (src/access/policy.ts) for its caller first.
 *
 * The store does the change itself (audited, the last-admin rule, sessions ended through
 * `sessionsEndedAt`); this layer adds what callers used to repeat: who may, and the password.
 * A web session on this node is the UI's to end at once (its session store is in memory).
 *
 * The returned `password` is the only copy in clear: show it once, never log it.
 *
 * @example
 *   const users = new UsersService(store);
 *   const { user, password } = await users.createUser(caller, { email, name, role });
 */
import { rekeyError } from '../errors.js';
import { generatePassword, hashPassword, verifyPassword } from '../keys/password.js';
import { checkNewPassword } from '../keys/password-rules.js';
import { authorize } from '../server/management-auth.js';
import type { Action } from '../access/policy.js';
import type { Actor, AppKey, Role, Store, User } from '../store/store.js';

/**
 * Who asks: a signed-in user or an application key's owner (their role, the key's scopes), or
 * the operator at the command line, who has the database and so every right (`operator`).
 */
export type UserCaller = { orgId: string; actor: Actor } & ({ user: User; appKey?: AppKey } | { operator: true });

export class UsersService {
  constructor(private readonly store: Store) {}

  /**
   * A new user. `password`: chosen by a person (checked against the password rules), or absent
   * to generate one; the generated one is returned (`generated: true`) to be shown once.
   */
  async createUser(
    caller: UserCaller,
    input: { email: string; name: string; role: Role; password?: string },
  ): Promise<{ user: User; password: string; generated: boolean }> {
    this.permit(caller, 'users:write', 'creating a user');
    const generated = input.password === undefined;
    const password = input.password ?? generatePassword();
    if (!generated) checkNewPassword(password);
    const user = await this.store.createUser(
      caller.orgId,
      { email: input.email, name: input.name, role: input.role, passwordHash: await hashPassword(password) },
      caller.actor,
    );
    return { user, password, generated };
  }

  /** A generated password for user `userId`, returned once; ends their sessions, disables their application keys. */
  async resetPassword(caller: UserCaller, userId: string): Promise<{ user: User; password: string }> {
    // Not through a scoped key (users:reset_password): the password signs in with the whole role.
    this.permit(caller, 'users:reset_password', "resetting a user's password");
    const password = generatePassword();
    const user = await this.store.setUserPassword(caller.orgId, userId, await hashPassword(password), 'reset', caller.actor);
    return { user, password };
  }

  /** A password chosen by the operator for user `userId` (`rekey user set-password`); audited as a reset. */
  async setPassword(caller: UserCaller, userId: string, password: string): Promise<User> {
    this.permit(caller, 'users:reset_password', "setting a user's password");
    checkNewPassword(password);
    return this.store.setUserPassword(caller.orgId, userId, await hashPassword(password), 'reset', caller.actor);
  }

  /** The caller's own password, changed after the current one is checked (count the attempt in the throttle first). */
  async changeOwnPassword(caller: UserCaller, current: string, next: string): Promise<User> {
    if ('operator' in caller) throw rekeyError('BAD_REQUEST', { detail: 'The command line has no password of its own to change' });
    this.permit(caller, 'own_password:write', 'changing your password');
    if (!(await verifyPassword(current, caller.user.passwordHash))) throw rekeyError('CURRENT_PASSWORD_INCORRECT');
    checkNewPassword(next);
    return this.store.setUserPassword(caller.orgId, caller.user.id, await hashPassword(next), 'change', caller.actor);
  }

  /** Disables (sessions end, application keys disabled and kept) or enables (keys stay disabled unless `enableAppKeys`). */
  async setDisabled(caller: UserCaller, userId: string, disabled: boolean, options: { enableAppKeys?: boolean } = {}): Promise<User> {
    this.permit(caller, 'users:write', disabled ? 'disabling a user' : 'enabling a user');
    return this.store.setUserDisabled(caller.orgId, userId, disabled, caller.actor, options);
  }

  /** Deletes the user and their application keys; the audit trail keeps their events. */
  async deleteUser(caller: UserCaller, userId: string): Promise<void> {
    this.permit(caller, 'users:write', 'deleting a user');
    await this.store.deleteUser(caller.orgId, userId, caller.actor);
  }

  private permit(caller: UserCaller, action: Action, what: string): void {
    if ('operator' in caller) return;
    authorize(caller, action, what);
  }
}
