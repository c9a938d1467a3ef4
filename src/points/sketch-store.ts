/**
 * Distribution sketches (table `metric_sketches`, migration 006): one DDSketch per series
 * (org, metric, host, tags) and 10 s bucket, in the Agent's bins (agent-sketch.ts), stored as
 * its Dogsketch message. A sketch sent twice (a re-sent payload) is stored once: the later
 * replaces the earlier, as for points. Sketches are merged when read — across the series a
 * query selects and the buckets of each answer interval (sketch-query.ts) — which is how
 * DDSketch keeps its accuracy guarantee for any grouping.
 *
 * Sketches arrive about once per 10 s per series per agent, far fewer rows than points, so
 * each accepted payload is written in one small transaction before its 202 (no journal).
 */
import { sql, type Kysely } from 'kysely';
import { decodeDogsketch, encodeDogsketch, type IntakeSketch } from '../intake/sketch-payload.js';
import type { SharedTables } from '../store/store.js';
import type { Dogsketch } from './agent-sketch.js';

export interface StoredSketch {
  host: string;
  tags: readonly string[];
  /** Bucket start, epoch seconds. */
  ts: number;
  sketch: Dogsketch;
}

/** One series' bucket: host, tags (in their order) and bucket start. */
const seriesKey = (host: string, tags: readonly string[], ts: number) => `${host}\u0000${tags.join(',')}\u0000${ts}`;

/** Rows per INSERT: 10 parameters each, under SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 500;

export class SketchStore {
  constructor(private readonly tables: SharedTables) {}

  /** Stores `sketches`, each replacing what its series and bucket held (a re-sent payload counts once). */
  async write(orgId: string, sketches: readonly IntakeSketch[]): Promise<void> {
    if (sketches.length === 0) return;
    await this.tables.write((trx) => this.upsert(trx, orgId, sketches));
  }

  /**
   * Adds `sketches` to what their series and buckets hold (raw values sent in several payloads
   * all count, as on Datadog): read, merge and write in one transaction, so two payloads for the
   * same bucket cannot each keep only their own merge. SQLite's write transaction is already
   * exclusive; on PostgreSQL a transaction-scoped advisory lock per (org, metric) makes other
   * writers of that metric — on any node — wait for this one.
   */
  async mergeWrite(orgId: string, sketches: readonly IntakeSketch[], merge: (stored: Dogsketch, fresh: Dogsketch) => Dogsketch): Promise<void> {
    if (sketches.length === 0) return;
    const byMetric = new Map<string, IntakeSketch[]>();
    for (const s of sketches) {
      const list = byMetric.get(s.metric);
      if (list === undefined) byMetric.set(s.metric, [s]);
      else list.push(s);
    }
    await this.tables.write(async (trx) => {
      const merged: IntakeSketch[] = [];
      // Sorted, so two transactions take their locks in the same order (no deadlock).
      for (const metric of [...byMetric.keys()].sort()) {
        const fresh = byMetric.get(metric)!;
        if (this.tables.dialect === 'postgres') {
          await sql`select pg_advisory_xact_lock(hashtext(${`rekey.sketch.${orgId}.${metric}`}))`.execute(trx);
        }
        let from = Infinity;
        let to = -Infinity;
        for (const s of fresh) {
          from = Math.min(from, s.sketch.ts);
          to = Math.max(to, s.sketch.ts);
        }
        const stored = await this.select(trx, orgId, metric, from, to);
        const storedByKey = new Map(stored.map((row) => [seriesKey(row.host, row.tags, row.ts), row.sketch]));
        for (const s of fresh) {
          const key = seriesKey(s.host, s.tags, s.sketch.ts);
          const before = storedByKey.get(key);
          const sketch = before === undefined ? s.sketch : merge(before, s.sketch);
          // A payload may name one series and bucket twice: the second adds to the first.
          storedByKey.set(key, sketch);
          merged.push({ ...s, sketch });
        }
      }
      await this.upsert(trx, orgId, merged);
    });
  }

  private async upsert(trx: Kysely<any>, orgId: string, sketches: readonly IntakeSketch[]): Promise<void> {
    // One statement may not upsert the same row twice (PostgreSQL): the last of each key wins.
    const byKey = new Map<string, Record<string, unknown>>();
    for (const s of sketches) {
      const tags = JSON.stringify(s.tags);
      byKey.set(`${s.metric}\u0000${s.sketch.ts}\u0000${s.host}\u0000${tags}`, {
        org_id: orgId,
        metric: s.metric,
        ts: s.sketch.ts,
        host: s.host,
        tags,
        count: s.sketch.cnt,
        sum: s.sketch.sum,
        min: s.sketch.min,
        max: s.sketch.max,
        sketch: encodeDogsketch(s.sketch),
      });
    }
    const rows = [...byKey.values()];
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      await trx
        .insertInto('metric_sketches')
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .onConflict((oc) =>
          oc.columns(['org_id', 'metric', 'ts', 'host', 'tags']).doUpdateSet({
            count: sql`excluded.count`,
            sum: sql`excluded.sum`,
            min: sql`excluded.min`,
            max: sql`excluded.max`,
            sketch: sql`excluded.sketch`,
          }),
        )
        .execute();
    }
  }

  /** The sketches of `metric` with a bucket start in [from, to], oldest first. */
  async query(orgId: string, metric: string, from: number, to: number): Promise<StoredSketch[]> {
    return this.select(this.tables.db, orgId, metric, from, to);
  }

  private async select(db: Kysely<any>, orgId: string, metric: string, from: number, to: number): Promise<StoredSketch[]> {
    const rows = await db
      .selectFrom('metric_sketches')
      .select(['host', 'tags', 'ts', 'sketch'])
      .where('org_id', '=', orgId)
      .where('metric', '=', metric)
      .where('ts', '>=', from)
      .where('ts', '<=', to)
      .orderBy('ts')
      .execute();
    return (rows as Array<Record<string, unknown>>).map((row) => ({
      host: row.host as string,
      tags: JSON.parse(row.tags as string) as string[],
      ts: Number(row.ts),
      sketch: decodeDogsketch(row.sketch as Uint8Array),
    }));
  }

  /** True when `metric` has sketches (so a query of it reads sketches, not points). */
  async has(orgId: string, metric: string): Promise<boolean> {
    const row = await this.tables.db
      .selectFrom('metric_sketches')
      .select('ts')
      .where('org_id', '=', orgId)
      .where('metric', '=', metric)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async deleteOlderThan(cutoffSeconds: number): Promise<number> {
    return this.tables.write(async (trx) =>
      Number((await trx.deleteFrom('metric_sketches').where('ts', '<', cutoffSeconds).executeTakeFirst()).numDeletedRows),
    );
  }
}
