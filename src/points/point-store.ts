/**
 * Where the intake's data lives: metric points, the hosts that sent them, check runs.
 * One Kysely implementation (kysely-point-store.ts) serves SQLite and PostgreSQL; the tables
 * are created by src/store/migrations/002-points.ts and 003-point-chunks.ts.
 *
 * Points are written a series at a time (one row per series per batch, see point-chunk.ts)
 * and de-duplicated on (org, metric, host, tags, timestamp): writing the same point twice
 * counts once, the later value wins (an agent that re-sends a payload after a timeout must
 * not double-count).
 */

/** The points of one series, as written. `tags` are sorted and de-duplicated; timestamps are epoch seconds. */
export interface StoredSeries {
  orgId: string;
  metric: string;
  host: string;
  tags: readonly string[];
  type: 'gauge' | 'count' | 'rate';
  interval: number | null;
  points: PointList;
}

/**
 * A series' points: [timestamp, value] pairs as decoded from a payload, or packed into a
 * Float64Array (ts, value, ts, value, …) as journal records hold them, so saving a second's
 * batches copies memory instead of making an array per point.
 */
export type PointList = ReadonlyArray<readonly [number, number]> | Float64Array;

/** How many points a PointList holds. */
export function pointCount(points: PointList): number {
  return points instanceof Float64Array ? points.length / 2 : points.length;
}

/** One stored point, as read back. `tags` are sorted and de-duplicated; `ts` is epoch seconds. */
export interface StoredPoint {
  orgId: string;
  metric: string;
  host: string;
  tags: readonly string[];
  ts: number;
  value: number;
  type: 'gauge' | 'count' | 'rate';
  interval: number | null;
}

/** A host seen by the intake; times are epoch milliseconds. */
export interface HostSighting {
  orgId: string;
  host: string;
  firstSeen: number;
  lastSeen: number;
  agentVersion: string | null;
  /** Latest `/intake/` document (JSON), when this sighting carries one. */
  metadata: string | null;
}

export interface StoredHost {
  orgId: string;
  host: string;
  firstSeen: Date;
  lastSeen: Date;
  agentVersion: string | null;
  metadata: string | null;
}

export interface CheckRunRecord {
  orgId: string;
  check: string;
  host: string;
  tags: readonly string[];
  status: number;
  message: string;
  /** Epoch seconds. */
  ts: number;
}

export interface PointQuery {
  orgId: string;
  metric: string;
  /** Inclusive, epoch seconds. */
  from: number;
  /** Inclusive, epoch seconds. */
  to: number;
  /** At most this many points returned. */
  limit?: number;
  /**
   * Refuse (400 INVALID_QUERY) a query whose time range holds more stored points than this,
   * before reading them: a guard against a range that would fill the server's memory.
   */
  maxScannedPoints?: number;
}

/** A point's kind as written: gauge, count or rate, and the count/rate's interval (seconds). */
export interface PointKind {
  type: StoredPoint['type'];
  interval: number | null;
}

/**
 * One series' points in a queried range (`querySeries`), packed: one point per timestamp (the
 * last written wins), ordered by timestamp. Arrays instead of a `StoredPoint` per point: a
 * 1-day query over 1,000 hosts at 60 s is 1.44 million points, and an object plus a map key
 * per point was most of that query's 53 s (bench/cost-growth.ts, 2026-11-30).
 */
export interface PointSeries {
  host: string;
  /** Sorted, de-duplicated. */
  tags: readonly string[];
  ts: Float64Array;
  values: Float64Array;
  /** Per point: its kind, an index into `kinds`. A series keeps its host and tags but may change kind between writes. */
  kindIds: Uint32Array;
  kinds: readonly PointKind[];
  /**
   * Per point: when it was first written (increasing with chunk id, then place in the chunk).
   * Orders points of equal timestamp across series as `queryPoints` always has (the first
   * written first), and with it the order in which series are aggregated.
   */
  firstWritten: Float64Array;
}

export interface HostQuery {
  orgId: string;
  /** Substring of the host name. */
  filter?: string;
  /** Exactly this host name (Datadog's `filter=host:NAME`). */
  host?: string;
  /** Default: by name, ascending. */
  sort?: { field: 'name' | 'last_reported_time'; direction: 'asc' | 'desc' };
  /** Only hosts seen at or after this time. */
  seenSince?: Date;
  offset?: number;
  count?: number;
}

export interface PointBatch {
  series: readonly StoredSeries[];
  hosts: readonly HostSighting[];
  checkRuns: readonly CheckRunRecord[];
  /** Intake journal records (batch-record.ts) whose series, hosts and check runs are part of the batch too. */
  records?: readonly Uint8Array[];
}

export interface PointStore {
  /** Stores series, hosts and check runs in one transaction. */
  writeBatch(batch: PointBatch): Promise<void>;
  /** The points of one metric in a time range, one per (host, tags, ts) — the last written — ordered by ts. */
  queryPoints(query: PointQuery): Promise<StoredPoint[]>;
  /** The same points as `queryPoints` (without `limit`), a packed array per series, in no particular series order. */
  querySeries(query: Omit<PointQuery, 'limit'>): Promise<PointSeries[]>;
  listHosts(query: HostQuery): Promise<{ hosts: StoredHost[]; totalMatching: number }>;
  /** The names of the org's metrics with a point at or after `since` (epoch seconds), sorted; Datadog's "active metrics". */
  listMetrics(orgId: string, since: number): Promise<string[]>;
  /** Deletes points (and check runs) with ts < cutoff (epoch seconds); returns how many points. */
  deleteOlderThan(cutoffSeconds: number): Promise<number>;
}

/**
 * One series of a metric as a map key: host and tag set, two different ones never the same key.
 *
 * Where no string holds NUL (what agents send), the host, the tag count and the tags joined by
 * NUL: each part can be told from the next. Otherwise NUL-free JSON of both after a \u0001 — a
 * key of the first kind always holds a NUL, one of the second never does (JSON escapes it).
 * Why not JSON always: it runs for every series write when a second's journal batches are saved
 * (chunk-builder.ts) and for every series a query reads; JSON.stringify of the tags was 8 % of the
 * shipped server's CPU on Agent protobuf payloads (100 series each, bench/profile-shipped-server.ts
 * --format protobuf), and the joined key costs 0.66 µs against 1.0-1.1 µs a series with the map
 * lookup (8 tags, Node 20, 2026-12-02).
 */
export function seriesKey(host: string, tags: readonly string[]): string {
  if (host.includes('\u0000') || tags.some((tag) => tag.includes('\u0000'))) return `\u0001${JSON.stringify([host, tags])}`;
  return `${host}\u0000${tags.length}\u0000${tags.join('\u0000')}`;
}
