/**
 * The unit a metric's series declare (v2 JSON `unit`, the Agent protobuf's field 6), kept per
 * org and metric (table `metric_metadata`, migration 006) and returned by `GET /api/v1/query`
 * as Datadog does: `series[].unit` is `[unit, per_unit]`, each a `MetricsQueryUnit`
 * (`family, name, plural, scale_factor, short_name`) or null.
 *
 * The intake calls record() for every accepted payload: an in-memory map of what is stored
 * makes that free unless a metric's unit is new or changed (then one upsert), so the hot path
 * pays nothing for it.
 *
 * @example
 *   await units.record(orgId, [{ metric: 'net.bytes', unit: 'byte' }]);
 *   await units.queryUnit(orgId, 'net.bytes'); // [{ family: 'bytes', name: 'byte', plural: 'bytes', scale_factor: 1, short_name: 'B' }, null]
 */
import { sql } from 'kysely';
import type { SharedTables } from '../store/store.js';

export interface QueryUnit {
  family: string;
  name: string;
  plural: string;
  scale_factor: number;
  short_name: string;
}

/** Datadog's most used units (family, plural, short name, scale to the family's base). */
const CATALOGUE: Record<string, Omit<QueryUnit, 'name'>> = {
  bit: { family: 'bytes', plural: 'bits', scale_factor: 1 / 8, short_name: 'b' },
  byte: { family: 'bytes', plural: 'bytes', scale_factor: 1, short_name: 'B' },
  kibibyte: { family: 'bytes', plural: 'kibibytes', scale_factor: 1024, short_name: 'KiB' },
  mebibyte: { family: 'bytes', plural: 'mebibytes', scale_factor: 1024 ** 2, short_name: 'MiB' },
  gibibyte: { family: 'bytes', plural: 'gibibytes', scale_factor: 1024 ** 3, short_name: 'GiB' },
  nanosecond: { family: 'time', plural: 'nanoseconds', scale_factor: 1e-9, short_name: 'ns' },
  microsecond: { family: 'time', plural: 'microseconds', scale_factor: 1e-6, short_name: 'μs' },
  millisecond: { family: 'time', plural: 'milliseconds', scale_factor: 1e-3, short_name: 'ms' },
  second: { family: 'time', plural: 'seconds', scale_factor: 1, short_name: 's' },
  minute: { family: 'time', plural: 'minutes', scale_factor: 60, short_name: 'min' },
  hour: { family: 'time', plural: 'hours', scale_factor: 3600, short_name: 'h' },
  percent: { family: 'percentage', plural: 'percent', scale_factor: 1, short_name: '%' },
  fraction: { family: 'percentage', plural: 'fractions', scale_factor: 100, short_name: '' },
  request: { family: 'network', plural: 'requests', scale_factor: 1, short_name: 'req' },
  connection: { family: 'network', plural: 'connections', scale_factor: 1, short_name: 'conn' },
  packet: { family: 'network', plural: 'packets', scale_factor: 1, short_name: 'pkt' },
  operation: { family: 'general', plural: 'operations', scale_factor: 1, short_name: 'op' },
  error: { family: 'general', plural: 'errors', scale_factor: 1, short_name: 'err' },
  event: { family: 'general', plural: 'events', scale_factor: 1, short_name: 'event' },
  process: { family: 'system', plural: 'processes', scale_factor: 1, short_name: 'proc' },
  core: { family: 'system', plural: 'cores', scale_factor: 1, short_name: 'core' },
};

/** Datadog's MetricsQueryUnit for a unit name; a name outside the catalogue is kept as it was sent. */
export function queryUnit(name: string): QueryUnit {
  const known = CATALOGUE[name];
  return known ? { name, ...known } : { family: 'general', name, plural: name, scale_factor: 1, short_name: name };
}

/** Metrics whose unit is remembered in memory; past it the map starts over (only costs a re-write). */
const MAX_REMEMBERED = 100_000;

export class MetricUnits {
  private readonly stored = new Map<string, string>();

  constructor(
    private readonly tables: SharedTables,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps the unit of each series that names one (the last one per metric wins). */
  async record(orgId: string, series: ReadonlyArray<{ metric: string; unit: string | null }>): Promise<void> {
    const changed = new Map<string, string>();
    for (const s of series) {
      if (s.unit === null || s.unit === '') continue;
      if (this.stored.get(`${orgId}\u0000${s.metric}`) !== s.unit) changed.set(s.metric, s.unit.slice(0, 100));
    }
    if (changed.size === 0) return;
    const at = this.now();
    const rows = [...changed].map(([metric, unit]) => ({ org_id: orgId, metric, unit, updated_at: at }));
    await this.tables.write((trx) =>
      trx
        .insertInto('metric_metadata')
        .values(rows)
        .onConflict((oc) => oc.columns(['org_id', 'metric']).doUpdateSet({ unit: sql`excluded.unit`, updated_at: sql`excluded.updated_at` }))
        .execute(),
    );
    if (this.stored.size + changed.size > MAX_REMEMBERED) this.stored.clear();
    for (const [metric, unit] of changed) this.stored.set(`${orgId}\u0000${metric}`, unit);
  }

  /** `series[].unit` for a query of `metric`: `[unit, null]`, or null when no series named one. */
  async queryUnit(orgId: string, metric: string): Promise<[QueryUnit, null] | null> {
    const row = await this.tables.db.selectFrom('metric_metadata').select('unit').where('org_id', '=', orgId).where('metric', '=', metric).executeTakeFirst();
    const unit = (row as { unit: string | null } | undefined)?.unit;
    return unit ? [queryUnit(unit), null] : null;
  }
}
