/**
 * The Upstream page (admins, issue 19): the organisation's relay upstream, as
 * `GET|PUT /api/v2/rekey/upstream` and `rekey upstream show|set` give it, through the same
 * validation and encryption (src/relay/upstream-settings.ts) and the same policy actions.
 */
import type { FastifyInstance } from 'fastify';
import { isRekeyError } from '../../errors.js';
import { saveUpstream, upstreamView } from '../../relay/upstream-settings.js';
import { upstreamPage } from '../pages/upstream-page.js';
import { actorOf, field, requireCapability, type UiDeps } from '../ui-context.js';

export function registerUpstreamRoutes(app: FastifyInstance, deps: UiDeps): void {
  const { store } = deps;

  app.get('/upstream', async (request, reply) => {
    const viewer = requireCapability(request, 'upstream:read');
    const current = await store.getUpstream(viewer.org.id);
    return reply.type('text/html; charset=utf-8').send(upstreamPage({ viewer, current: current && upstreamView(current) }));
  });

  app.post('/upstream', async (request, reply) => {
    const viewer = requireCapability(request, 'upstream:write');
    const mode = field(request, 'mode');
    const site = field(request, 'site').trim();
    const apiKey = field(request, 'api_key').trim();
    try {
      // An empty key field keeps the stored key (a password field is never filled back).
      const saved = await saveUpstream(
        store,
        viewer.org.id,
        {
          mode,
          site: site === '' ? undefined : site,
          apiKey: apiKey === '' ? undefined : apiKey,
          names: { site: 'Datadog site or URL', apiKey: 'Upstream API key' },
        },
        actorOf(request),
      );
      viewer.session.flash = {
        kind: 'ok',
        text: `Upstream saved: ${saved.mode} mode, ${saved.site}, upstream key …${saved.apiKeyLast4}. Every relay node uses it within seconds.`,
      };
      return reply.redirect('/upstream', 303);
    } catch (error) {
      if (!(isRekeyError(error) && error.status < 500)) throw error;
      const current = await store.getUpstream(viewer.org.id);
      return reply
        .code(error.status)
        .type('text/html; charset=utf-8')
        .send(upstreamPage({ viewer, current: current && upstreamView(current), refused: { message: error.message, mode, site } }));
    }
  });
}
