/**
 * rekey extensions (not Datadog endpoints; issue 19): the caller's organisation's relay upstream
 * (docs/relay.md), as `rekey upstream show|set` and the UI's Upstream page give it.
 *
 *   GET /api/v2/rekey/upstream   mode, site, URLs, the upstream key's last 4 (never the key); 404 UPSTREAM_NOT_SET
 *   PUT /api/v2/rekey/upstream   set them (the key in `api_key`; left out: the stored key is kept)
 *
 * Admin only (`upstream:read`, `upstream:write`, src/access/policy.ts), and no scope grants
 * either: the upstream decides where the organisation's data goes and with which Datadog key.
 * The key is encrypted before it is stored (src/relay/upstream-settings.ts, shared with the CLI),
 * never echoed, never logged (the request log records no bodies; a test reads the log).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { DATADOG_SITES } from '../../relay/upstream-site.js';
import { saveUpstream, upstreamView } from '../../relay/upstream-settings.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';

const tags = ['Relay'];

const urlT = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });

const upstreamResponse = Type.Object(
  {
    org_id: Type.String(),
    mode: Type.Union([Type.Literal('relay'), Type.Literal('standalone')], { description: 'relay: payloads are forwarded upstream; standalone: stored here' }),
    site: Type.String({ description: 'The Datadog site or base URL as set' }),
    urls: Type.Object(
      { metrics: Type.String(), logs: Type.String(), traces: Type.String() },
      { description: 'Where each kind of payload is forwarded (derived from the site unless set per kind)' },
    ),
    api_key_last4: Type.String({ description: 'The last 4 characters of the upstream API key; the key itself is never shown' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: "The organization's upstream" },
);

const upstreamBody = Type.Object(
  {
    mode: Type.Optional(Type.Union([Type.Literal('relay'), Type.Literal('standalone')], { description: 'Default relay' })),
    site: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: `A Datadog site (${DATADOG_SITES.join(', ')}) or a base URL; required the first time unless \`url\` is given`,
      }),
    ),
    url: Type.Optional(urlT('A base URL for every kind of payload (another rekey, a Vector datadog_agent source); the same as giving it as `site`')),
    api_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        description: 'The upstream (Datadog) API key; required the first time; left out, the stored key is kept. Never returned.',
      }),
    ),
    metrics_url: Type.Optional(urlT('Base URL for metrics, check runs, events, metadata (default from the site)')),
    logs_url: Type.Optional(urlT('Base URL for logs (default from the site)')),
    traces_url: Type.Optional(urlT('Base URL for traces (default from the site)')),
    allow_insecure: Type.Optional(
      Type.Boolean({
        description: 'Accept http:// URLs to other machines (the upstream key would cross the network in clear); http://localhost is always accepted',
      }),
    ),
  },
  // Never, not false: Fastify's Ajv silently drops a property `false` forbids (a misspelt
  // `metric_url` would leave the default in place with a 200); no value passes Never: 400.
  { additionalProperties: Type.Never() },
);

export async function upstreamRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;

  app.get(
    '/api/v2/rekey/upstream',
    {
      preHandler: [ctx.auth.management, requireAction('upstream:read', 'reading the relay upstream')],
      schema: {
        tags,
        summary: "extension: the organization's relay upstream (admin)",
        description:
          'A rekey extension (docs/relay.md): the mode, site and URLs, and the last 4 characters of the upstream API key, never the key. 404 UPSTREAM_NOT_SET when the organization has none (it stores its data here, standalone).',
        response: { 200: upstreamResponse, ...errorResponses([403, 404, 429], { 404: 'UPSTREAM_NOT_SET: the organization has no upstream' }) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const settings = await store.getUpstream(orgId);
      if (settings === undefined) throw rekeyError('UPSTREAM_NOT_SET', { org: (await store.getOrg(orgId))?.name ?? orgId });
      return upstreamView(settings);
    },
  );

  app.put(
    '/api/v2/rekey/upstream',
    {
      preHandler: [ctx.auth.management, requireAction('upstream:write', 'setting the relay upstream')],
      schema: {
        tags,
        summary: "extension: set the organization's relay upstream and upstream API key (admin)",
        description:
          'A rekey extension, as `rekey upstream set` (docs/relay.md). Audited as upstream.set (site, mode, last 4). Every relay node uses the new settings at once (PostgreSQL) or within 2 s; a delivery held because the upstream refused the previous key resumes at once. The answer never contains the key.',
        body: upstreamBody,
        response: {
          200: upstreamResponse,
          ...errorResponses([400, 403, 429], { 400: 'INVALID_UPSTREAM: the site, a URL, the mode or the key is refused; the message says which' }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const body = request.body;
      if (body.site !== undefined && body.url !== undefined) throw rekeyError('INVALID_UPSTREAM', { detail: 'Give site or url, not both' });
      const saved = await saveUpstream(
        store,
        auth.orgId,
        {
          mode: body.mode ?? 'relay',
          site: body.site ?? body.url,
          apiKey: body.api_key,
          urls: { metrics: body.metrics_url, logs: body.logs_url, traces: body.traces_url },
          allowInsecure: body.allow_insecure === true,
          names: { site: body.url === undefined ? 'site' : 'url' },
        },
        auth.actor,
      );
      return upstreamView(saved);
    },
  );
}
