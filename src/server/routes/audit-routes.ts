/**
 * `GET /api/v2/audit/events`: the organisation's audit trail in the shape of Datadog's Audit
 * Trail search (`type: "audit"`). Admin only (`audit:read`, scope `audit_logs_read`,
 * src/access/policy.ts): the trail shows who did what from where; the UI's /audit page asks the same.
 *
 * Filters: `filter[from]`, `filter[to]` (ISO 8601, epoch milliseconds, `now` or `now-15m`
 * style), `filter[query]` (an action such as `api_key.revoke`, optionally written
 * `@evt.name:api_key.revoke`), paging with `page[size]` (alias `page[limit]`) and `page[number]`.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import type { AuditQuery } from '../../store/store.js';
import { auditEventResource } from '../json-api.js';
import { MAX_PAGE_SIZE } from '../list-query.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { auditEventResourceSchema, errorResponses, jsonApiList } from './json-api-schemas.js';

const RELATIVE = /^now(?:-(\d+)([smhdw]))?$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Datadog's time parameters: ISO 8601, epoch milliseconds, `now`, `now-15m`. */
export function parseAuditTime(name: string, value: string, now: Date): Date {
  const relative = RELATIVE.exec(value);
  if (relative !== null) {
    const amount = relative[1] === undefined ? 0 : Number(relative[1]) * UNIT_MS[relative[2]!]!;
    return new Date(now.getTime() - amount);
  }
  const date = /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw rekeyError('BAD_REQUEST', { detail: `${name} is not a time; use ISO 8601, epoch milliseconds or now-15m` });
  }
  return date;
}

const auditQuerySchema = Type.Object({
  'filter[from]': Type.Optional(Type.String()),
  'filter[to]': Type.Optional(Type.String()),
  'filter[query]': Type.Optional(Type.String({ description: 'An action, e.g. api_key.revoke or @evt.name:api_key.revoke' })),
  'page[size]': Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  'page[limit]': Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  'page[number]': Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

export async function auditRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/v2/audit/events',
    {
      preHandler: ctx.auth.management,
      schema: {
        tags: ['Audit'],
        summary: "List the organization's audit events, newest first (admin)",
        querystring: auditQuerySchema,
        response: {
          200: jsonApiList('A page of audit events, newest first', auditEventResourceSchema, {
            meta: { status: { type: 'string', enum: ['done'], description: "Datadog's search status; always done" } },
          }),
          ...errorResponses([400, 403, 429], { 403: 'Forbidden: the keys are missing, unknown, revoked or expired, or the user is not an admin' }),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'audit:read', 'reading the audit trail');
      const raw = request.query;
      const now = ctx.now();
      const query: AuditQuery = {
        page: { size: raw['page[size]'] ?? raw['page[limit]'] ?? 10, number: raw['page[number]'] ?? 0 },
      };
      if (raw['filter[from]'] !== undefined) query.from = parseAuditTime('filter[from]', raw['filter[from]'], now);
      if (raw['filter[to]'] !== undefined) query.to = parseAuditTime('filter[to]', raw['filter[to]'], now);
      const text = raw['filter[query]'];
      if (text !== undefined && text !== '' && text !== '*') {
        query.action = text.replace(/^@(?:evt\.name|action):/, '');
      }
      const listed = await ctx.store.listAuditEvents(auth.orgId, query);
      return {
        data: listed.items.map(auditEventResource),
        meta: { page: { total_filtered_count: listed.totalFiltered }, status: 'done' },
      };
    },
  );
}
