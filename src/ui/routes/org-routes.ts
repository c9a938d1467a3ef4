/** Organisation-wide pages: hosts, the audit trail, users (admins). */
import { randomUUID } from 'node:crypto';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorCatalogue, isRekeyError, rekeyError } from '../../errors.js';
import { MIN_PASSWORD_LENGTH } from '../../keys/password-rules.js';
import { idParamsT } from '../../server/routes/typed-schemas.js';
import { ROLES, type KeyHostUsage } from '../../store/store.js';
import { auditPage } from '../pages/audit-page.js';
import { serviceChecksByHost } from '../../intake/service-check-status.js';
import { hostsPage, type HostRow } from '../pages/hosts-page.js';
import { accountPage, usersPage } from '../pages/users-page.js';
import { UsersService, type UserCaller } from '../../users/users-service.js';
import { SESSION_COOKIE } from '../session-cookie.js';
import { actorOf, CAN, field, requireCapability, viewerOf, type UiDeps } from '../ui-context.js';
import { allApiKeys } from './api-key-routes.js';

const AUDIT_PAGE_SIZE = 50;

/** `?page=N` of the audit page: any text, read as a page number or page 0 (a page, not an API). */
const auditQueryT = Type.Object({ page: Type.Optional(Type.String()) });

export function registerOrgRoutes(fastify: FastifyInstance, deps: UiDeps): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = deps;
  const users = new UsersService(store);
  /** The signed-in user as the users service's caller (a session has no scopes). */
  const callerOf = (request: FastifyRequest): UserCaller => {
    const viewer = viewerOf(request);
    return { orgId: viewer.org.id, user: viewer.user, actor: actorOf(request) };
  };
  const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

  // One row per host: the key it used most recently, and the keys it used before.
  app.get('/hosts', async (request, reply) => {
    const viewer = viewerOf(request);
    // Two queries whatever the number of keys (issue 8), not one usage query per key.
    const [keys, usage] = await Promise.all([allApiKeys(store, viewer.org.id), store.listOrgKeyHosts(viewer.org.id)]);
    // Merged key by key, oldest key first, each key's hosts newest first: the order decides
    // which key a host shows when two keys saw it at the same instant.
    const usageOfKey = new Map<string, KeyHostUsage[]>();
    for (const u of usage) {
      const list = usageOfKey.get(u.keyId);
      if (list) list.push(u);
      else usageOfKey.set(u.keyId, [u]);
    }
    const byHost = new Map<string, HostRow>();
    keys.forEach((key) => {
      for (const u of usageOfKey.get(key.id) ?? []) {
        const row: HostRow = {
          host: u.host,
          agentVersion: u.agentVersion,
          keyId: key.id,
          keyLast4: key.last4,
          keyName: key.name,
          keyStatus: key.status,
          firstSeen: u.firstSeen,
          lastSeen: u.lastSeen,
          otherKeys: [],
          serviceChecks: [],
        };
        const seen = byHost.get(u.host);
        if (!seen) {
          byHost.set(u.host, row);
        } else if (u.lastSeen > seen.lastSeen) {
          row.otherKeys = [...seen.otherKeys, { id: seen.keyId, last4: seen.keyLast4 }];
          row.firstSeen = u.firstSeen < seen.firstSeen ? u.firstSeen : seen.firstSeen;
          row.agentVersion = u.agentVersion ?? seen.agentVersion;
          byHost.set(u.host, row);
        } else {
          seen.otherKeys.push({ id: key.id, last4: key.last4 });
          if (u.firstSeen < seen.firstSeen) seen.firstSeen = u.firstSeen;
        }
      }
    });
    const hosts = [...byHost.values()].sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
    const checks = await serviceChecksByHost(
      store.sharedTables(),
      viewer.org.id,
      hosts.map((h) => h.host),
    );
    for (const row of hosts) row.serviceChecks = checks.get(row.host) ?? [];
    return send(reply, hostsPage({ viewer, now: deps.now(), hosts }));
  });

  // The same as the API's audit route (src/server/routes/audit-routes.ts): admin only.
  app.get('/audit', { schema: { querystring: auditQueryT } }, async (request, reply) => {
    const viewer = requireCapability(request, 'audit:read');
    const requested = Number(request.query.page ?? 0);
    const pageNumber = Number.isInteger(requested) && requested >= 0 && requested < 100_000 ? requested : 0;
    const [listed, users] = await Promise.all([
      store.listAuditEvents(viewer.org.id, { page: { size: AUDIT_PAGE_SIZE, number: pageNumber } }),
      store.listUsers(viewer.org.id),
    ]);
    const events = [...listed.items].sort((a, b) => b.at.getTime() - a.at.getTime());
    return send(
      reply,
      auditPage({
        viewer,
        events,
        pageNumber,
        total: listed.totalFiltered,
        actors: new Map(users.map((u) => [u.id, u.email])),
        hasMore: (pageNumber + 1) * AUDIT_PAGE_SIZE < listed.totalFiltered,
      }),
    );
  });

  /** The users, and how many disabled application keys each owns (to offer enabling them). */
  const listing = async (orgId: string) => {
    const [users, keys] = await Promise.all([store.listUsers(orgId), store.listAppKeys(orgId)]);
    const disabledAppKeys = new Map<string, number>();
    for (const key of keys.items) if (key.disabledAt !== null) disabledAppKeys.set(key.ownerId, (disabledAppKeys.get(key.ownerId) ?? 0) + 1);
    return { users, disabledAppKeys };
  };

  app.get('/users', async (request, reply) => {
    const viewer = requireCapability(request, CAN.viewUsers);
    return send(reply, usersPage({ viewer, ...(await listing(viewer.org.id)), formId: randomUUID() }));
  });

  app.post('/users', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageUsers);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      viewer.session.flash = { kind: 'error', text: 'That form was already sent: the user was created and the password will not be shown again.' };
      return reply.redirect('/users', 303);
    }
    const role = ROLES.find((r) => r === field(request, 'role'));
    const email = field(request, 'email').trim();
    const name = field(request, 'name').trim();
    const again = async (error: string, status: number) =>
      send(reply, usersPage({ viewer, ...(await listing(viewer.org.id)), formId: randomUUID(), error }), status);
    if (role === undefined) return again(`Choose a role: ${ROLES.join(', ')}`, 400);
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) return again('Enter an email address such as ops@example.com', 400);
    if (name === '') return again('Enter the user’s name', 400);
    try {
      const { user, password } = await users.createUser(callerOf(request), { email, name, role });
      return send(reply, usersPage({ viewer, ...(await listing(viewer.org.id)), formId: randomUUID(), created: { user, password } }), 201);
    } catch (error) {
      if (isRekeyError(error) && error.status < 500) return again(error.message, error.status);
      throw error;
    }
  });

  // ---- user lifecycle (issue 15): each change is the store's, audited; the user's sessions on
  // this node end at once, and on every other node at their next request (sessionsEndedAt).

  /** Runs an admin's change to user `:id`; a refusal (last admin, not found) is shown on the page. */
  const userChange = (path: string, change: (orgId: string, userId: string, request: FastifyRequest, reply: FastifyReply) => Promise<string | FastifyReply>) =>
    app.post(`/users/:id/${path}`, { schema: { params: idParamsT } }, async (request, reply) => {
      const viewer = requireCapability(request, CAN.manageUsers);
      const { id } = request.params;
      const target = /^[0-9a-f-]{36}$/.test(id) ? await store.getUser(viewer.org.id, id) : undefined;
      if (target === undefined) throw rekeyError('USER_NOT_FOUND');
      try {
        const done = await change(viewer.org.id, target.id, request, reply);
        if (typeof done !== 'string') return done;
        viewer.session.flash = { kind: 'ok', text: `${target.email}: ${done}` };
      } catch (error) {
        if (!(isRekeyError(error) && error.status < 500)) throw error;
        viewer.session.flash = { kind: 'error', text: error.message };
      }
      return reply.redirect('/users', 303);
    });

  userChange('disable', async (orgId, userId, request) => {
    await users.setDisabled(callerOf(request), userId, true);
    deps.sessions.destroyUser(userId);
    return 'disabled; signed out, application keys disabled';
  });

  userChange('enable', async (orgId, userId, request) => {
    const appKeys = field(request, 'app_keys') === '1';
    await users.setDisabled(callerOf(request), userId, false, { enableAppKeys: appKeys });
    return appKeys ? 'enabled, with their application keys' : 'enabled; their application keys stay disabled';
  });

  userChange('delete', async (orgId, userId, request) => {
    if (field(request, 'confirm') !== 'yes') throw rekeyError('BAD_REQUEST', { detail: 'Tick “sure” to delete a user' });
    await users.deleteUser(callerOf(request), userId);
    deps.sessions.destroyUser(userId);
    return 'deleted, with their application keys';
  });

  // The new password is in this response only (never in the session, a flash or a log).
  userChange('reset-password', async (orgId, userId, request, reply) => {
    const viewer = viewerOf(request);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      return 'that form was already sent: the password was reset and will not be shown again';
    }
    const { user, password } = await users.resetPassword(callerOf(request), userId);
    deps.sessions.destroyUser(userId);
    return send(reply, usersPage({ viewer, ...(await listing(orgId)), formId: randomUUID(), reset: { user, password } }));
  });

  // Every user: their own account and password.
  app.get('/account', async (request, reply) => send(reply, accountPage({ viewer: viewerOf(request), minLength: MIN_PASSWORD_LENGTH })));

  app.post('/account/password', async (request, reply) => {
    const viewer = viewerOf(request);
    const again = (error: string, status: number) => send(reply, accountPage({ viewer, error, minLength: MIN_PASSWORD_LENGTH }), status);
    // The sign-in throttle's pair (address, email), counted before the check: a session left
    // open cannot be used to guess the password at scrypt speed, nor in parallel.
    const attempt = deps.throttle.begin(request.ip, viewer.user.email);
    if (!attempt.allowed) {
      reply.header('retry-after', String(attempt.retryAfterSeconds));
      return again(errorCatalogue.RATE_LIMITED.message({ retryAfterSeconds: attempt.retryAfterSeconds }), 429);
    }
    try {
      await users.changeOwnPassword(callerOf(request), field(request, 'current_password'), field(request, 'new_password'));
    } catch (error) {
      if (isRekeyError(error) && error.status < 500) {
        if (error.code !== 'CURRENT_PASSWORD_INCORRECT') deps.throttle.succeeded(attempt);
        return again(error.message, error.status);
      }
      throw error;
    }
    deps.throttle.succeeded(attempt);
    // Every session of the user ends, this one too: they sign in again with the new password.
    deps.sessions.destroyUser(viewer.user.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}
