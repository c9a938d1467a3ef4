/** The viewer's own application keys. Another user's key is "not found", like another org's. */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRekeyError, rekeyError } from '../../errors.js';
import { KeysService } from '../../keys/keys-service.js';
import type { AppKey } from '../../store/store.js';
import { appKeysPage, type AppKeysView } from '../pages/app-keys-page.js';
import { keyCallerOf } from './api-key-routes.js';
import { actorOf, CAN, field, requireCapability, viewerOf, type UiDeps, type Viewer } from '../ui-context.js';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function registerAppKeyRoutes(app: FastifyInstance, deps: UiDeps): void {
  const { store } = deps;
  const keysService = new KeysService(store, deps.hasher);

  async function view(viewer: Viewer, extra: Partial<AppKeysView> = {}): Promise<AppKeysView> {
    const listed = await store.listAppKeys(viewer.org.id, {
      ownerId: viewer.user.id,
      sort: { field: 'created_at', direction: 'asc' },
      page: { size: 100, number: 0 },
    });
    return { viewer, now: deps.now(), keys: listed.items, canManage: CAN.manageOwnAppKeys(viewer.user.role), formId: randomUUID(), ...extra };
  }
  const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

  async function ownKey(request: FastifyRequest<{ Params: { id: string } }>): Promise<AppKey> {
    const viewer = viewerOf(request);
    const { id } = request.params;
    const key = ID.test(id) ? await store.getAppKey(viewer.org.id, id) : undefined;
    if (!key || key.ownerId !== viewer.user.id) throw rekeyError('APP_KEY_NOT_FOUND');
    return key;
  }

  async function refusalOr(reply: FastifyReply, viewer: Viewer, error: unknown): Promise<FastifyReply> {
    if (isRekeyError(error) && error.status === 400) return send(reply, appKeysPage(await view(viewer, { error: error.message })), 400);
    throw error;
  }

  app.get('/app-keys', async (request, reply) => send(reply, appKeysPage(await view(viewerOf(request)))));

  app.post('/app-keys', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageOwnAppKeys);
    if (!deps.sessions.consumeFormId(viewer.session, field(request, 'form_id') || 'missing')) {
      viewer.session.flash = { kind: 'error', text: 'That form was already sent: the key was created and will not be shown again.' };
      return reply.redirect('/app-keys', 303);
    }
    try {
      const { key, secret } = await keysService.createAppKey(keyCallerOf(request, viewer), { name: field(request, 'name').trim() });
      return send(reply, appKeysPage(await view(viewer, { created: { key, secret } })), 201);
    } catch (error) {
      return refusalOr(reply, viewer, error);
    }
  });

  app.post<{ Params: { id: string } }>('/app-keys/:id/rename', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageOwnAppKeys);
    const key = await ownKey(request);
    try {
      const updated = await store.updateAppKey(viewer.org.id, key.id, { name: field(request, 'name').trim() }, actorOf(request));
      viewer.session.flash = { kind: 'ok', text: `Application key …${updated.last4} renamed to “${updated.name}”.` };
      return reply.redirect('/app-keys', 303);
    } catch (error) {
      return refusalOr(reply, viewer, error);
    }
  });

  app.post<{ Params: { id: string } }>('/app-keys/:id/delete', async (request, reply) => {
    const viewer = requireCapability(request, CAN.manageOwnAppKeys);
    const key = await ownKey(request);
    await store.deleteAppKey(viewer.org.id, key.id, actorOf(request));
    viewer.session.flash = { kind: 'ok', text: `Application key “${key.name}” (…${key.last4}) deleted.` };
    return reply.redirect('/app-keys', 303);
  });
}
