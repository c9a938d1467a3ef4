/**
 * Datadog events, stored per organisation (table `events`, migration 006) and read back in
 * Datadog's v1 shape (`GET /api/v1/events`, `GET /api/v1/events/{id}`).
 *
 * Events are few (deploys, restarts, alerts): each is inserted in its own small write, not
 * through the points' batching writer, so the id a `POST /api/v1/events` answers is the
 * stored one. Filters Datadog's list takes: `start`/`end` (required), `priority`, `sources`
 * (any of), `tags` (all of); newest first, at most `PAGE_SIZE` per page.
 *
 * @example
 *   const events = new EventStore(store.sharedTables());
 *   const [stored] = await events.insert([{ orgId, title: 'deploy', text: 'v2', ts, ... }]);
 *   await events.list({ orgId, start: ts - 60, end: ts + 60, tags: ['env:prod'] });
 */
import type { SharedTables } from '../store/store.js';

export type EventPriority = 'normal' | 'low';
export type EventAlertType = 'error' | 'warning' | 'info' | 'success' | 'user_update' | 'recommendation' | 'snapshot';

export interface NewEvent {
  orgId: string;
  title: string;
  text: string;
  /** `date_happened`, epoch seconds. */
  ts: number;
  priority: EventPriority;
  alertType: EventAlertType;
  host: string;
  /** Sorted and de-duplicated. */
  tags: readonly string[];
  aggregationKey: string;
  sourceTypeName: string;
  deviceName: string;
}

export interface StoredEvent extends NewEvent {
  id: number;
}

export interface EventQuery {
  orgId: string;
  /** Inclusive, epoch seconds. */
  start: number;
  end: number;
  priority?: EventPriority;
  /** Any of these `source_type_name`s. */
  sources?: readonly string[];
  /** Every one of these tags. */
  tags?: readonly string[];
  /** Zero-based page of PAGE_SIZE events. */
  page?: number;
}

/** Events per page of the list, as Datadog's (it returns at most 1,000). */
export const PAGE_SIZE = 1000;
/** Rows one list reads at most before filtering by tags: a bound on one request's work. */
const MAX_SCANNED = 50_000;

export class EventStore {
  constructor(private readonly tables: SharedTables) {}

  /** Inserts the events in one transaction; returns them with their ids, in order. */
  async insert(events: readonly NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    return this.tables.write(async (trx) => {
      const stored: StoredEvent[] = [];
      for (const event of events) {
        const row = await trx
          .insertInto('events')
          .values({
            org_id: event.orgId,
            ts: event.ts,
            title: event.title,
            text: event.text,
            priority: event.priority,
            alert_type: event.alertType,
            host: event.host,
            tags: JSON.stringify(event.tags),
            aggregation_key: event.aggregationKey,
            source_type_name: event.sourceTypeName,
            device_name: event.deviceName,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        stored.push({ ...event, id: Number((row as { id: unknown }).id) });
      }
      return stored;
    });
  }

  async list(query: EventQuery): Promise<StoredEvent[]> {
    let select = this.tables.db.selectFrom('events').selectAll().where('org_id', '=', query.orgId).where('ts', '>=', query.start).where('ts', '<=', query.end);
    if (query.priority !== undefined) select = select.where('priority', '=', query.priority);
    if (query.sources !== undefined && query.sources.length > 0) select = select.where('source_type_name', 'in', [...query.sources]);
    const rows = await select.orderBy('ts', 'desc').orderBy('id', 'desc').limit(MAX_SCANNED).execute();
    const wanted = query.tags ?? [];
    const matching = rows.map(toEvent).filter((event) => wanted.every((tag) => event.tags.includes(tag)));
    const page = query.page ?? 0;
    return matching.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  }

  async get(orgId: string, id: number): Promise<StoredEvent | undefined> {
    const row = await this.tables.db.selectFrom('events').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toEvent(row);
  }

  /** Deletes events that happened before the cutoff (epoch seconds); returns how many. */
  async deleteOlderThan(cutoffSeconds: number): Promise<number> {
    return this.tables.write(async (trx) => {
      const result = await trx.deleteFrom('events').where('ts', '<', cutoffSeconds).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}

function toEvent(row: Record<string, unknown>): StoredEvent {
  return {
    id: Number(row.id),
    orgId: row.org_id as string,
    ts: Number(row.ts),
    title: row.title as string,
    text: row.text as string,
    priority: row.priority as EventPriority,
    alertType: row.alert_type as EventAlertType,
    host: row.host as string,
    tags: JSON.parse(row.tags as string) as string[],
    aggregationKey: row.aggregation_key as string,
    sourceTypeName: row.source_type_name as string,
    deviceName: row.device_name as string,
  };
}
