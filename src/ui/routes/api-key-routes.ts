/**
 * The API keys page and everything done from it. Keys are made by the management API's own
 * path (src/keys/keys-service.ts: generate, hash, last4, store); the full key appears only in
 * the response to the POST that created it.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRekeyError, rekeyError } from '../../errors.js';
import { KeysService, type KeyCaller } from '../../keys/keys-service.js';
import type { ApiKey, Store } from '../../store/store.js';
import { chartRange, keyUsageChart } from '../key-usage-chart.js';
import { apiKeysPage, revokeConfirmPage, rollPage, type ApiKeyRow, type ApiKeysView } from '../pages/api-keys-page.js';
import { keyPage } from '../pages/key-page.js';
import { actorOf, CAN, field, requireCapability, viewerOf, type UiDeps, type Viewer } from '../ui-context.js';

/** The signed-in user as the keys service's caller (a session has no scopes). */
export function keyCallerOf(request: FastifyRequest, viewer: Viewer): KeyCaller {
  return { orgId: viewer.org.id, user: viewer.user, actor: actorOf(request) };
}

/** The routes under `/keys/:id`. */
type WithId = { Params: { id: string } };

const DAY_MS = 86_400_000;
export const RESTORE_WINDOW_MS = 7 * DAY_MS;
export const DEFAULT_ROLL_GRACE_SECONDS = 24 * 60 * 60;
export const ROLL_GRACE_OPTIONS = [
  { seconds: 0, label: 'No time: revoke it now' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 6 * 3600, label: '6 hours' },
  { seconds: 24 * 3600, label: '24 hours' },
  { seconds: 7 * 24 * 3600, label: '7 days' },
];
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every API key of the organisation, any status, oldest first (≤ 50 active + revoked). */
export async function allApiKeys(store: Store, orgId: string): Promise<ApiKey[]> {
  const keys: ApiKey[] = [];
  for (let number = 0; number < 100; number++) {
    const listed = await store.listApiKeys(orgId, { status: 'all', sort: { field: 'created_at', direction: 'asc' }, page: { size: 100, number } });
    keys.push(...listed.items);
    if (listed.items.length < 100 || keys.length >= listed.totalFiltered) break;
  }
  return keys;
}

/** The one key whose revocation the store would refuse, if there is exactly one. */
export function lastActiveKeyId(keys: readonly ApiKey[]): string | null {
  const permanent = keys.filter((k) => k.status === 'active' && k.expiresAt === null);
  return permanent.length === 1 ? permanent[0]!.id : null;
}

export function registerApiKeyRoutes(app: FastifyInstance, deps: UiDeps): void {
  const { store } = deps;
  const keysService = new KeysService(store, deps.hasher);

  const userNames = async (orgId: string): Promise<Map<string, string>> => new Map((await store.listUsers(orgId)).map((u) => [u.id, u.email]));

  const createdByName = (names: Map<string, string>, id: string | null) => (id === null ? 'system' : (names.get(id) ?? 'deleted user'));

  async function keysView(viewer: Viewer, extra: Partial<ApiKeysView> = {}): Promise<ApiKeysView> {
    const now = deps.now();
    const since = new Date(now.getTime() - DAY_MS);
    // Three queries whatever the number of keys (issue 8: one usage query per key made this
    // page grow with the keys).
    const [keys, names, usage] = await Promise.all([allApiKeys(store, viewer.org.id), userNames(viewer.org.id), store.listOrgKeyHosts(viewer.org.id, since)]);
    const hostsLast24h = new Map<string, number>();
    for (const u of usage) hostsLast24h.set(u.keyId, (hostsLast24h.get(u.keyId) ?? 0) + 1);
    const rows: ApiKeyRow[] = keys.map((key) => ({
      key,
      createdBy: createdByName(names, key.createdBy),
      hostsLast24h: key.status === 'active' ? (hostsLast24h.get(key.id) ?? 0) : 0,
    }));
    return {
      viewer,
      now,
      active: rows.filter((r) => r.key.status === 'active'),
      revoked: rows.filter((r) => r.key.status === 'revoked').sort((a, b) => (b.key.revokedAt?.getTime() ?? 0) - (a.key.revokedAt?.getTime() ?? 0)),
      canManage: CAN.manageApiKeys(viewer.user.role),
      lastActiveKeyId: lastActiveKeyId(keys),
      formId: randomUUID(),
      restoreWindowMs: RESTORE_WINDOW_MS,
      ...extra,
    };
  }

  const sendHtml = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

  async function existingKey(request: FastifyRequest<WithId>): Promise<ApiKey> {
    const { id } = request.params;
    const key = ID.test(id) ? await store.getApiKey(viewerOf(request).org.id, id) : undefined;
    if (!key) throw rekeyError('API_KEY_NOT_FOUND');
    return key;
  }

  /** Runs a store change; a refusal the user can act on (last key, name) re-renders the list with it. */
  async function changeOrShow(request: FastifyRequest, reply: FastifyReply, change: () => Promise<string>): Promise<FastifyReply> {
    const viewer = viewerOf(request);
    try {
      const done = await change();
      viewer.session.flash = { kind: 'ok', text: done };
      return reply.redirect('/keys', 303);
    } catch (error) {
      if (isRekeyError(error) && error.status === 400) return sendHtml(reply, apiKeysPage(await keysView(viewer, { error: error.message })), 400);
      throw error;
    }
  }

  app.get('/keys', async (request, reply) => sendHtml(reply, apiKeysPage(await keysView(viewerOf(request)))));

  app.post('/keys', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageApiKeys);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      viewer.session.flash = { kind: 'error', text: 'That form was already sent: the key was created and will not be shown again.' };
      return reply.redirect('/keys', 303);
    }
    try {
      const { key, secret } = await keysService.createApiKey(keyCallerOf(request, viewer), { name: field(request, 'name').trim() });
      return sendHtml(reply, apiKeysPage(await keysView(viewer, { created: { key, secret } })), 201);
    } catch (error) {
      if (isRekeyError(error) && error.status === 400) return sendHtml(reply, apiKeysPage(await keysView(viewer, { error: error.message })), 400);
      throw error;
    }
  });

  app.get<WithId>('/keys/:id', async (request, reply) => {
    const viewer = viewerOf(request);
    const key = await existingKey(request);
    const now = deps.now();
    const [keys, names, hosts] = await Promise.all([allApiKeys(store, viewer.org.id), userNames(viewer.org.id), store.listKeyHosts(viewer.org.id, key.id)]);
    const related = [
      ...keys.filter((k) => k.id === key.rolledFromId).map((k) => ({ key: k, relation: 'rolled from' as const })),
      ...keys.filter((k) => k.rolledFromId === key.id).map((k) => ({ key: k, relation: 'rolled into' as const })),
    ];
    // The real usage minutes of the key and the keys it was rolled from or into (issue 19).
    const { from, to } = chartRange({ now });
    const minutes = await Promise.all([key, ...related.map((r) => r.key)].map((k) => deps.usageMinutes(viewer.org.id, k.id, from, to)));
    const chart = keyUsageChart(
      [key, ...related.map((r) => r.key)].map((k, i) => ({ label: `…${k.last4}`, minutes: minutes[i]! })),
      { now },
    );
    hosts.sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
    return sendHtml(
      reply,
      keyPage({
        viewer,
        now,
        key,
        hosts,
        related,
        chart,
        createdBy: createdByName(names, key.createdBy),
        canManage: CAN.manageApiKeys(viewer.user.role),
        isLastActive: lastActiveKeyId(keys) === key.id,
      }),
    );
  });

  app.post<WithId>('/keys/:id/rename', async (request, reply) => {
    requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    return changeOrShow(request, reply, async () => {
      const renamed = await store.renameApiKey(key.orgId, key.id, field(request, 'name').trim(), actorOf(request));
      return `Key …${renamed.last4} renamed to “${renamed.name}”.`;
    });
  });

  app.get<WithId>('/keys/:id/revoke', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    if (key.status === 'revoked') return reply.redirect('/keys', 303);
    const keys = await allApiKeys(store, viewer.org.id);
    const refusal = lastActiveKeyId(keys) === key.id ? rekeyError('LAST_ACTIVE_API_KEY').message : null;
    const hosts = (await store.listKeyHosts(viewer.org.id, key.id)).sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
    return sendHtml(reply, revokeConfirmPage({ viewer, key, hosts, now: deps.now(), recentMs: DAY_MS, refusal }), refusal ? 400 : 200);
  });

  app.post<WithId>('/keys/:id/revoke', async (request, reply) => {
    requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    return changeOrShow(request, reply, async () => {
      await store.revokeApiKey(key.orgId, key.id, actorOf(request));
      return `Key “${key.name}” (…${key.last4}) revoked. It can be restored within 7 days.`;
    });
  });

  app.post<WithId>('/keys/:id/restore', async (request, reply) => {
    requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    return changeOrShow(request, reply, async () => {
      await store.restoreApiKey(key.orgId, key.id, actorOf(request));
      return `Key “${key.name}” (…${key.last4}) restored; it works again.`;
    });
  });

  app.get<WithId>('/keys/:id/roll', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    if (key.status === 'revoked') throw rekeyError('API_KEY_REVOKED');
    return sendHtml(reply, rollPage({ viewer, key, formId: randomUUID(), graceOptions: ROLL_GRACE_OPTIONS, defaultGraceSeconds: DEFAULT_ROLL_GRACE_SECONDS }));
  });

  app.post<WithId>('/keys/:id/roll', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageApiKeys);
    const key = await existingKey(request);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      viewer.session.flash = { kind: 'error', text: 'That form was already sent: the key was rolled and the new key will not be shown again.' };
      return reply.redirect('/keys', 303);
    }
    const graceSeconds = Number(field(request, 'grace_seconds'));
    if (!ROLL_GRACE_OPTIONS.some((o) => o.seconds === graceSeconds)) {
      throw rekeyError('BAD_REQUEST', { detail: `Choose a grace period from the list (${ROLL_GRACE_OPTIONS.map((o) => o.label).join(', ')})` });
    }
    const name = field(request, 'name').trim();
    try {
      const { previous, replacement, secret } = await keysService.rollApiKey(keyCallerOf(request, viewer), key.id, {
        ...(name ? { name } : {}),
        graceMs: graceSeconds * 1000,
      });
      return sendHtml(reply, apiKeysPage(await keysView(viewer, { created: { key: replacement, secret, replaced: previous } })), 201);
    } catch (error) {
      if (isRekeyError(error) && error.status === 400) return sendHtml(reply, apiKeysPage(await keysView(viewer, { error: error.message })), 400);
      throw error;
    }
  });
}
