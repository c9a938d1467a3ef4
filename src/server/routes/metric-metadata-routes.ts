/**
 * `GET /api/v1/metrics/{metric_name}` and `PUT /api/v1/metrics/{metric_name}`: Datadog's metric
 * metadata (the official clients' `getMetricMetadata` / `updateMetricMetadata`) — type,
 * description, short_name, unit, per_unit, statsd_interval — from what the intake stored (the
 * unit a series declared, the type it was stored as) and what a PUT set
 * (src/points/metric-metadata.ts). Management auth: reading needs `metrics:query`, editing
 * `metrics:metadata_write` (admin and standard; scope `metrics_metadata_write`).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import type { IntakeRuntime } from '../../intake/intake-runtime.js';
import { MAX_METRIC_NAME } from '../../intake/series-limits.js';
import { MetricMetadataStore, type MetricMetadataChange } from '../../points/metric-metadata.js';
import { authOf, requireAction } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses } from './json-api-schemas.js';

/** The metric types Datadog's metadata names. */
export const METRIC_METADATA_TYPES = ['gauge', 'rate', 'count', 'distribution'] as const;

const nullable = (type: 'string' | 'integer', description: string) => Type.Unsafe<string | number | null>({ type: [type, 'null'], description });
const metadataResponse = Type.Object(
  {
    type: nullable('string', 'gauge, rate, count or distribution: as set, else as the metric is stored'),
    description: nullable('string', 'As set by a PUT'),
    short_name: nullable('string', 'As set by a PUT'),
    unit: nullable('string', 'As set by a PUT, else the unit the latest series declared'),
    per_unit: nullable('string', 'As set by a PUT'),
    statsd_interval: nullable('integer', 'Seconds; as set by a PUT'),
    integration: nullable('string', 'Always null: rekey has no integrations'),
  },
  { description: "Datadog's MetricMetadata" },
);
/**
 * A null field of the PUT body means "unchanged", like a field left out: clients that send
 * every field of their model send null for those not set, and validation would otherwise turn
 * null into "" (type coercion) and refuse it.
 */
async function dropNullFields(request: FastifyRequest): Promise<void> {
  const body: unknown = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  for (const [name, value] of Object.entries(body)) if (value === null) Reflect.deleteProperty(body, name);
}

const params = Type.Object({ metric_name: Type.String({ minLength: 1, maxLength: MAX_METRIC_NAME }) });
const text = (description: string) => Type.Optional(Type.String({ maxLength: 1000, description }));
const metadataBody = Type.Object({
  type: Type.Optional(Type.Enum([...METRIC_METADATA_TYPES], { type: 'string' })),
  description: text('Free text'),
  short_name: Type.Optional(Type.String({ maxLength: 100 })),
  unit: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'A unit name such as byte or millisecond (not checked against a list)' })),
  per_unit: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'As unit, for "unit per per_unit"' })),
  statsd_interval: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'Seconds' })),
  integration: Type.Optional(Type.String({ description: 'Read-only on Datadog: ignored' })),
});

export async function metricMetadataRoutes(fastify: FastifyInstance, ctx: ServerContext, intake: IntakeRuntime): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const metadata = new MetricMetadataStore(ctx.store.sharedTables(), intake.now);
  const tags = ['Intake and metrics'];

  app.get(
    '/api/v1/metrics/:metric_name',
    {
      preHandler: [ctx.auth.management, requireAction('metrics:query', 'reading metric metadata')],
      schema: {
        tags,
        summary: "A metric's metadata (unit, type, description…)",
        params,
        response: { 200: metadataResponse, ...errorResponses([400, 403, 404, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const metric = request.params.metric_name;
      // Points in the write-behind buffer count as received.
      await intake.writer.saveNow();
      const found = await metadata.get(orgId, metric);
      if (found === undefined) throw rekeyError('METRIC_NOT_FOUND', { metric: metric.slice(0, 200) });
      return found;
    },
  );

  app.put(
    '/api/v1/metrics/:metric_name',
    {
      preValidation: dropNullFields,
      preHandler: [ctx.auth.management, requireAction('metrics:metadata_write', 'editing metric metadata')],
      schema: {
        tags,
        summary: "Edit a metric's metadata (admin, standard); fields left out or null are unchanged",
        params,
        body: metadataBody,
        response: { 200: metadataResponse, ...errorResponses([400, 403, 404, 429]) },
      },
    },
    async (request) => {
      const { orgId } = authOf(request);
      const metric = request.params.metric_name;
      await intake.writer.saveNow();
      if ((await metadata.get(orgId, metric)) === undefined) throw rekeyError('METRIC_NOT_FOUND', { metric: metric.slice(0, 200) });
      const { type, description, short_name, unit, per_unit, statsd_interval } = request.body;
      const change: MetricMetadataChange = {
        ...(type === undefined ? {} : { type }),
        ...(description === undefined ? {} : { description }),
        ...(short_name === undefined ? {} : { short_name }),
        ...(unit === undefined ? {} : { unit }),
        ...(per_unit === undefined ? {} : { per_unit }),
        ...(statsd_interval === undefined ? {} : { statsd_interval }),
      };
      return metadata.update(orgId, metric, change);
    },
  );
}
