/** Organisation-wide pages: hosts, the audit trail, users (admins). */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isRekeyError } from '../../errors.js';
import { generatePassword, hashPassword } from '../../keys/password.js';
import { ROLES, type KeyHostUsage, type Role } from '../../store/store.js';
import { auditPage } from '../pages/audit-page.js';
import { hostsPage, type HostRow } from '../pages/hosts-page.js';
import { usersPage } from '../pages/users-page.js';
import { actorOf, CAN, field, requireCapability, viewerOf, type UiDeps } from '../ui-context.js';
import { allApiKeys } from './api-key-routes.js';

const AUDIT_PAGE_SIZE = 50;

export function registerOrgRoutes(app: FastifyInstance, deps: UiDeps): void {
  const { store } = deps;
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
          host: u.host, agentVersion: u.agentVersion, keyId: key.id, keyLast4: key.last4, keyName: key.name, keyStatus: key.status,
          firstSeen: u.firstSeen, lastSeen: u.lastSeen, otherKeys: [],
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
    return send(reply, hostsPage({ viewer, now: deps.now(), hosts }));
  });

  // The same as the API's audit route (src/server/routes/audit-routes.ts): admin only.
  app.get('/audit', async (request, reply) => {
    const viewer = requireCapability(request, 'audit:read');
    const requested = Number((request.query as { page?: string }).page ?? 0);
    const pageNumber = Number.isInteger(requested) && requested >= 0 && requested < 100_000 ? requested : 0;
    const [listed, users] = await Promise.all([
      store.listAuditEvents(viewer.org.id, { page: { size: AUDIT_PAGE_SIZE, number: pageNumber } }),
      store.listUsers(viewer.org.id),
    ]);
    const events = [...listed.items].sort((a, b) => b.at.getTime() - a.at.getTime());
    return send(
      reply,
      auditPage({
        viewer, events, pageNumber, total: listed.totalFiltered,
        actors: new Map(users.map((u) => [u.id, u.email])),
        hasMore: (pageNumber + 1) * AUDIT_PAGE_SIZE < listed.totalFiltered,
      }),
    );
  });

  app.get('/users', async (request, reply) => {
    const viewer = requireCapability(request, CAN.viewUsers);
    return send(reply, usersPage({ viewer, users: await store.listUsers(viewer.org.id), formId: randomUUID() }));
  });

  app.post('/users', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageUsers);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      viewer.session.flash = { kind: 'error', text: 'That form was already sent: the user was created and the password will not be shown again.' };
      return reply.redirect('/users', 303);
    }
    const role = field(request, 'role') as Role;
    const email = field(request, 'email').trim();
    const name = field(request, 'name').trim();
    const again = async (error: string, status: number) =>
      send(reply, usersPage({ viewer, users: await store.listUsers(viewer.org.id), formId: randomUUID(), error }), status);
    if (!ROLES.includes(role)) return again(`Choose a role: ${ROLES.join(', ')}`, 400);
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) return again('Enter an email address such as ops@example.com', 400);
    if (name === '') return again('Enter the user’s name', 400);
    const password = generatePassword();
    try {
      const user = await store.createUser(viewer.org.id, { email, name, role, passwordHash: await hashPassword(password) }, actorOf(request));
      return send(reply, usersPage({ viewer, users: await store.listUsers(viewer.org.id), formId: randomUUID(), created: { user, password } }), 201);
    } catch (error) {
      if (isRekeyError(error) && error.status < 500) return again(error.message, error.status);
      throw error;
    }
  });

}
