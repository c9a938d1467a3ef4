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
import { sql } from 'kysely';
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

/** Rows per INSERT: 10 parameters each, under SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 500;

export class SketchStore {
  constructor(private readonly tables: SharedTables) {}

  async write(orgId: string, sketches: readonly IntakeSketch[]): Promise<void> {
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
    if (rows.length === 0) return;
    await this.tables.write(async (trx) => {
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
    });
  }

  /** The sketches of `metric` with a bucket start in [from, to], oldest first. */
  async query(orgId: string, metric: string, from: number, to: number): Promise<StoredSketch[]> {
    const rows = await this.tables.db
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
    const row = await this.tables.db.selectFrom('metric_sketches').select('ts').where('org_id', '=', orgId).where('metric', '=', metric).limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async deleteOlderThan(cutoffSeconds: number): Promise<number> {
    return this.tables.write(async (trx) => Number((await trx.deleteFrom('metric_sketches').where('ts', '<', cutoffSeconds).executeTakeFirst()).numDeletedRows));
  }
}
