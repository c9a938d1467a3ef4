/**
 * Datadog's metric metadata (`GET/PUT /api/v1/metrics/{metric_name}`, the official clients'
 * `getMetricMetadata` / `updateMetricMetadata`): per org and metric, the row of table
 * `metric_metadata` (migrations 006 and 008) — the `unit` the intake keeps (metric-units.ts)
 * and what a PUT set (type, description, short_name, per_unit, statsd_interval, unit).
 *
 * A metric has metadata when it has any: a row, stored points or stored sketches (Datadog
 * answers 404 for a metric it never received). `type` not set by a PUT is what the metric is
 * stored as: `distribution` for sketches, else the type its latest points were sent with.
 *
 * @example
 *   const metadata = new MetricMetadataStore(store.sharedTables(), Date.now);
 *   await metadata.get(orgId, 'net.bytes'); // { type: 'gauge', unit: 'byte', description: null, … } or undefined
 *   await metadata.update(orgId, 'net.bytes', { description: 'Bytes sent' });
 */
import { sql } from 'kysely';
import type { SharedTables } from '../store/store.js';
import { decodeChunk } from './point-chunk.js';

/** Datadog's MetricMetadata, as its JSON names it. */
export interface MetricMetadata {
  type: string | null;
  description: string | null;
  short_name: string | null;
  unit: string | null;
  per_unit: string | null;
  statsd_interval: number | null;
  /** Datadog names the integration that sends a metric; rekey has none. */
  integration: null;
}

/** What a PUT may change (absent: unchanged). */
export type MetricMetadataChange = Partial<Omit<MetricMetadata, 'integration'>>;

const EDITABLE = ['type', 'description', 'short_name', 'unit', 'per_unit', 'statsd_interval'] as const;

export class MetricMetadataStore {
  constructor(
    private readonly tables: SharedTables,
    private readonly now: () => number = Date.now,
  ) {}

  /** The metric's metadata; undefined when the org never had it (no row, no points, no sketches). */
  async get(orgId: string, metric: string): Promise<MetricMetadata | undefined> {
    const { db } = this.tables;
    const row = (await db.selectFrom('metric_metadata').selectAll().where('org_id', '=', orgId).where('metric', '=', metric).executeTakeFirst()) as
      Record<string, unknown> | undefined;
    const storedType = await this.storedType(orgId, metric);
    if (row === undefined && storedType === undefined) return undefined;
    const text = (value: unknown) => (typeof value === 'string' ? value : null);
    return {
      type: text(row?.type) ?? storedType ?? null,
      description: text(row?.description),
      short_name: text(row?.short_name),
      unit: text(row?.unit),
      per_unit: text(row?.per_unit),
      statsd_interval: row?.statsd_interval === null || row?.statsd_interval === undefined ? null : Number(row.statsd_interval),
      integration: null,
    };
  }

  /** Sets what `change` names (creating the row), then answers the metadata as get() does. */
  async update(orgId: string, metric: string, change: MetricMetadataChange): Promise<MetricMetadata> {
    const set: Record<string, unknown> = { updated_at: this.now() };
    for (const field of EDITABLE) if (change[field] !== undefined) set[field] = change[field];
    await this.tables.write((trx) =>
      trx
        .insertInto('metric_metadata')
        .values({ org_id: orgId, metric, ...set })
        .onConflict((oc) =>
          oc.columns(['org_id', 'metric']).doUpdateSet(Object.fromEntries(Object.keys(set).map((field) => [field, sql.ref(`excluded.${field}`)]))),
        )
        .execute(),
    );
    return (await this.get(orgId, metric))!;
  }

  /** `distribution` when the metric has sketches, else the type of its latest stored points; undefined when it has neither. */
  private async storedType(orgId: string, metric: string): Promise<string | undefined> {
    const { db } = this.tables;
    const sketch = await db.selectFrom('metric_sketches').select('ts').where('org_id', '=', orgId).where('metric', '=', metric).limit(1).executeTakeFirst();
    if (sketch !== undefined) return 'distribution';
    const chunk = (await db
      .selectFrom('metric_chunks')
      .select('points')
      .where('org_id', '=', orgId)
      .where('metric', '=', metric)
      .orderBy('ts_max', 'desc')
      .limit(1)
      .executeTakeFirst()) as { points: Uint8Array } | undefined;
    if (chunk === undefined) return undefined;
    return decodeChunk(chunk.points)[0]?.type ?? 'gauge';
  }
}
