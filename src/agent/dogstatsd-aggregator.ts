/**
 * Long on purpose: every DogStatsD type's aggregation as the Datadog Agent does it, side by side.
 *
 * Aggregates DogStatsD samples into 10-second buckets, like the Datadog Agent.
 *
 * A bucket is keyed by its start (unix seconds, a multiple of 10) and every point it yields
 * carries that start as its timestamp. `flushClosed(now)` only returns buckets that have
 * ended, so a value is final when it is queued and re-delivering it (after a 403, an outage
 * or a restart) stores the same point again, which the intake de-duplicates.
 *
 * Per type:
 * - `g` gauge: last value in the bucket.
 * - `c` count: sum of value / sample rate, sent as a **rate**: that sum ÷ 10, type `rate`,
 *   interval 10 — what the Datadog Agent sends (pkg/metrics counter.go), so `c:15` in one
 *   bucket reads 1.5/s here as on Datadog, and `.as_count()` gives 15 back.
 * - `s` set: number of distinct members, a gauge.
 * - `h` histogram and `ms` timing: `.avg .max .median .95percentile` (gauges) and `.count`
 *   (the number of samples scaled by 1/sample rate, sent as a rate like a counter, as the
 *   Datadog Agent does).
 * - `d` distribution: a DDSketch per context and bucket, in the Agent's bins
 *   (src/points/agent-sketch.ts), taken with takeSketches() and sent to `/api/beta/sketches`;
 *   the server merges them and answers `p95:`, `avg:`, `count:`… over any tags.
 */
import type { DDSketch } from '@datadog/sketches-js';
import { fromDogsketch, newAgentSketch, toDogsketch, type Dogsketch } from '../points/agent-sketch.js';
import type { DogStatsDSample, DogStatsDShape, DogStatsDType } from './dogstatsd-parser.js';
import { copyString } from './dogstatsd-shapes.js';
import { SampleValues } from './sample-values.js';
import type { Series } from './series.js';

export const BUCKET_SECONDS = 10;
/** Characters the sorted-tags cache may hold (raw + sorted text); past it, it starts over. */
const MAX_TAG_CACHE_CHARS = 2 * 1024 * 1024;

/**
 * The open buckets as plain JSON, for a graceful restart (agent.ts keeps them in the run
 * path): every context's aggregate, so a restarted agent continues the same bucket.
 */
export interface BucketSnapshot {
  version: 1;
  /** When it was taken (ms since the epoch). */
  savedAt: number;
  /**
   * The host and config tags the points were sent with at the stop (absent in older files). A
   * start with another hostname or other `tags:` must not continue them: the stopped agent
   * already sent those counts under its own identity, and adding them to the new one's
   * points would count them twice.
   */
  host?: string;
  tags?: string[];
  buckets: Array<{ start: number; contexts: Array<{ key: string; name: string; tags: string[]; agg: SnapshotAggregate }> }>;
}

type SnapshotAggregate =
  | { kind: 'gauge'; value: number }
  | { kind: 'count'; value: number }
  | { kind: 'set'; members: string[] }
  | { kind: 'histogram'; values: number[]; count: number }
  | { kind: 'sketch'; sketch: Dogsketch };

/** One distribution context's sketch for one closed bucket, with the host and tags it is sent with. */
export interface ClosedSketch {
  metric: string;
  host: string;
  tags: string[];
  sketch: Dogsketch;
}

type Aggregate =
  | { kind: 'gauge'; value: number }
  | { kind: 'count'; value: number }
  | { kind: 'set'; members: Set<string> }
  | { kind: 'histogram'; values: SampleValues; count: number }
  | { kind: 'sketch'; sketch: DDSketch };

interface Context {
  name: string;
  tags: string[];
  agg: Aggregate;
}

export class DogStatsDAggregator {
  private readonly buckets = new Map<number, Map<string, Context>>();
  /** Contexts (name + type + tags) currently held, to bound memory against a flood of names. */
  private contextCount = 0;
  droppedContexts = 0;
  private readonly tagCache = new Map<string, string>();
  /** Characters held by tagCache: bounded, so a flood of 60 KB tag sets is not kept. */
  private tagCacheChars = 0;
  /** Distribution sketches of the buckets flushed, until takeSketches(). */
  private closedSketches: ClosedSketch[] = [];

  constructor(
    private readonly host: () => string,
    private readonly extraTags: () => string[],
    private readonly maxContexts = 100_000,
  ) {}

  /** Adds one parsed sample received at `nowMs`. */
  add(sample: DogStatsDSample, nowMs: number): void {
    this.addValues(this.contextKey(sample), sample, sample.values, sample.setValue, nowMs);
  }

  /**
   * The key of a sample's context: type family, name and sorted tags. The server computes it
   * once per distinct line shape and passes it to addValues, instead of once per packet.
   */
  contextKey(shape: DogStatsDShape): string {
    return `${familyOf(shape.type)}|${shape.name}|${this.normalisedTags(shape)}`;
  }

  /** Adds the values of one line of `shape`, whose context key is `key` (see contextKey). */
  addValues(key: string, shape: DogStatsDShape, values: readonly number[], setValue: string, nowMs: number): void {
    const start = bucketStart(nowMs);
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(start, bucket);
    }
    let context = bucket.get(key);
    if (context === undefined) {
      if (this.contextCount >= this.maxContexts) {
        this.droppedContexts++;
        return;
      }
      context = { name: shape.name, tags: shape.tags, agg: emptyAggregate(familyOf(shape.type)) };
      bucket.set(key, context);
      this.contextCount++;
    }
    const agg = context.agg;
    switch (agg.kind) {
      case 'gauge':
        agg.value = values[values.length - 1]!;
        break;
      case 'count':
        for (const value of values) agg.value += value / shape.sampleRate;
        break;
      case 'set':
        agg.members.add(setValue);
        break;
      case 'histogram':
        for (const value of values) agg.values.push(value);
        agg.count += values.length / shape.sampleRate;
        break;
      case 'sketch':
        for (const value of values) agg.sketch.accept(value, 1 / shape.sampleRate);
        break;
    }
  }

  /** Removes and returns the distribution sketches of the buckets flushed so far. */
  takeSketches(): ClosedSketch[] {
    const taken = this.closedSketches;
    this.closedSketches = [];
    return taken;
  }

  /**
   * The sorted, de-duplicated tag list as one string, so `#a,b`, `#b,a` and `#a,b,a` are one context. Cached by the
   * raw tag text: sorting per packet cost a third of the hot path at 20,000 packets/s.
   */
  private normalisedTags(sample: DogStatsDShape): string {
    if (sample.tags.length === 0) return '';
    let sorted = this.tagCache.get(sample.rawTags);
    if (sorted === undefined) {
      // De-duplicated as the intake does: `#a,a` and `#a` are one series there, so one context here.
      sorted = [...new Set(sample.tags)].sort().join(',');
      const cost = sample.rawTags.length + sorted.length;
      if (this.tagCache.size >= 10_000 || this.tagCacheChars + cost > MAX_TAG_CACHE_CHARS) {
        this.tagCache.clear();
        this.tagCacheChars = 0;
      }
      this.tagCache.set(copyString(sample.rawTags), sorted);
      this.tagCacheChars += cost;
    }
    return sorted;
  }

  /** Removes and returns the series of every bucket that ended at or before `nowMs`. */
  flushClosed(nowMs: number): Series[] {
    return this.flush((start) => (start + BUCKET_SECONDS) * 1000 <= nowMs);
  }

  /** Removes and returns every bucket, open or not (used at shutdown). */
  flushAll(): Series[] {
    return this.flush(() => true);
  }

  private flush(take: (start: number) => boolean): Series[] {
    const out: Series[] = [];
    const host = this.host();
    const extra = this.extraTags();
    for (const [start, bucket] of [...this.buckets].sort((a, b) => a[0] - b[0])) {
      if (!take(start)) continue;
      this.buckets.delete(start);
      this.contextCount -= bucket.size;
      for (const context of bucket.values()) {
        const tags = [...context.tags, ...extra];
        if (context.agg.kind === 'sketch') {
          if (context.agg.sketch.count > 0)
            this.closedSketches.push({ metric: context.name, host, tags: [...new Set(tags)].sort(), sketch: toDogsketch(context.agg.sketch, start) });
        } else out.push(...toSeries(context, start, host, tags));
      }
    }
    return out;
  }

  /** The buckets that have not ended at `nowMs`, as JSON; they stay in the aggregator. */
  snapshotOpen(nowMs: number): BucketSnapshot {
    const buckets: BucketSnapshot['buckets'] = [];
    for (const [start, bucket] of this.buckets) {
      if ((start + BUCKET_SECONDS) * 1000 <= nowMs) continue;
      const contexts = [...bucket].map(([key, context]) => ({ key, name: context.name, tags: context.tags, agg: toSnapshot(context.agg) }));
      buckets.push({ start, contexts });
    }
    return { version: 1, savedAt: nowMs, host: this.host(), tags: [...this.extraTags()], buckets };
  }

  /**
   * Adds a snapshot's buckets (counts and histogram values add up, set members join, a gauge
   * keeps the value it already has here). A bucket that has ended since is flushed by the
   * next flushClosed, as it was.
   *
   * The file is input from disk, so nothing in it is trusted: a snapshot taken under another
   * host or other config tags is refused (throws, nothing restored); a bucket that is not a
   * 10 s start up to `nowMs`'s bucket, or a context whose name, tags or values are not what
   * snapshotOpen writes, is skipped. The context key is recomputed, never read. Returns the
   * number of contexts skipped.
   */
  restore(snapshot: BucketSnapshot, nowMs: number): number {
    if (snapshot.host !== undefined && snapshot.host !== this.host()) {
      throw new Error(`it was written for host "${String(snapshot.host).slice(0, 255)}", this agent is "${this.host()}"`);
    }
    if (snapshot.tags !== undefined && JSON.stringify(snapshot.tags) !== JSON.stringify(this.extraTags())) {
      throw new Error('it was written with other config tags');
    }
    let skipped = 0;
    const newest = bucketStart(nowMs);
    for (const entry of snapshot.buckets) {
      if (typeof entry !== 'object' || entry === null) {
        skipped++;
        continue;
      }
      const { start, contexts } = entry;
      if (!Number.isSafeInteger(start) || start % BUCKET_SECONDS !== 0 || start > newest || !Array.isArray(contexts)) {
        skipped += Array.isArray(contexts) ? contexts.length : 1;
        continue;
      }
      let bucket = this.buckets.get(start);
      for (const saved of contexts) {
        const valid = validSnapshotContext(saved);
        if (valid === null) {
          skipped++;
          continue;
        }
        if (bucket === undefined) {
          bucket = new Map();
          this.buckets.set(start, bucket);
        }
        const key = `${valid.family}|${valid.name}|${[...new Set(valid.tags)].sort().join(',')}`;
        let context = bucket.get(key);
        if (context === undefined) {
          if (this.contextCount >= this.maxContexts) {
            this.droppedContexts++;
            continue;
          }
          context = { name: valid.name, tags: valid.tags, agg: emptyAggregate(valid.family) };
          if (saved.agg.kind === 'gauge') context.agg = { kind: 'gauge', value: saved.agg.value };
          bucket.set(key, context);
          this.contextCount++;
        }
        const agg = context.agg;
        const from = saved.agg;
        if (agg.kind === 'count' && from.kind === 'count') agg.value += from.value;
        else if (agg.kind === 'set' && from.kind === 'set') for (const member of from.members) agg.members.add(member);
        else if (agg.kind === 'histogram' && from.kind === 'histogram') {
          for (const value of from.values) agg.values.push(value);
          agg.count += from.count;
        } else if (agg.kind === 'sketch' && from.kind === 'sketch') {
          const restored = fromDogsketch(from.sketch);
          agg.sketch.merge(restored);
        }
      }
    }
    return skipped;
  }

  /** Characters held by the sorted-tags cache (at most MAX_TAG_CACHE_CHARS). */
  get cachedTagChars(): number {
    return this.tagCacheChars;
  }

  /** Number of contexts waiting in open buckets. */
  get pendingContexts(): number {
    return this.contextCount;
  }
}

type SnapshotContext = BucketSnapshot['buckets'][number]['contexts'][number];

const FAMILY_OF_KIND: Record<string, string> = { gauge: 'g', count: 'c', set: 's', histogram: 'h', sketch: 'd' };
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A context of a snapshot read from disk, checked field by field; null when it is not one snapshotOpen writes. */
function validSnapshotContext(saved: SnapshotContext): { family: string; name: string; tags: string[] } | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { name, tags, agg } = saved as Partial<SnapshotContext>;
  if (typeof name !== 'string' || name.length === 0 || !Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) return null;
  if (typeof agg !== 'object' || agg === null) return null;
  const family = typeof agg.kind === 'string' && Object.hasOwn(FAMILY_OF_KIND, agg.kind) ? FAMILY_OF_KIND[agg.kind]! : undefined;
  if (family === undefined) return null;
  const ok =
    agg.kind === 'gauge' || agg.kind === 'count'
      ? isFiniteNumber(agg.value)
      : agg.kind === 'set'
        ? Array.isArray(agg.members) && agg.members.every((member) => typeof member === 'string')
        : agg.kind === 'sketch'
          ? validSnapshotSketch(agg.sketch)
          : Array.isArray(agg.values) && agg.values.length > 0 && agg.values.every(isFiniteNumber) && isFiniteNumber(agg.count) && agg.count >= 0;
  return ok ? { family, name, tags } : null;
}

/** A sketch of a snapshot read from disk: bins as toDogsketch writes them (Agent keys are int16). */
function validSnapshotSketch(sketch: unknown): boolean {
  if (typeof sketch !== 'object' || sketch === null) return false;
  const { k, n, sum, min, max, cnt } = sketch as Partial<Dogsketch>;
  return (
    Array.isArray(k) &&
    Array.isArray(n) &&
    k.length === n.length &&
    k.length > 0 &&
    k.every((key) => Number.isInteger(key) && Math.abs(key) <= 32767) &&
    n.every((count) => Number.isInteger(count) && count > 0) &&
    [sum, min, max, cnt].every(isFiniteNumber)
  );
}

export function bucketStart(nowMs: number): number {
  const seconds = Math.floor(nowMs / 1000);
  return seconds - (seconds % BUCKET_SECONDS);
}

/** Timings aggregate as histograms: one context with `h`. Distributions are sketches (`d`). */
function familyOf(type: DogStatsDType): string {
  return type === 'ms' ? 'h' : type;
}

function emptyAggregate(family: string): Aggregate {
  switch (family) {
    case 'g':
      return { kind: 'gauge', value: 0 };
    case 'c':
      return { kind: 'count', value: 0 };
    case 's':
      return { kind: 'set', members: new Set() };
    case 'd':
      return { kind: 'sketch', sketch: newAgentSketch() };
    default:
      return { kind: 'histogram', values: new SampleValues(), count: 0 };
  }
}

function toSnapshot(agg: Aggregate): SnapshotAggregate {
  switch (agg.kind) {
    case 'gauge':
    case 'count':
      return { kind: agg.kind, value: agg.value };
    case 'set':
      return { kind: 'set', members: [...agg.members] };
    case 'histogram':
      return { kind: 'histogram', values: [...agg.values.sorted()], count: agg.count };
    case 'sketch':
      return { kind: 'sketch', sketch: toDogsketch(agg.sketch, 0) };
  }
}

function toSeries(context: Context, ts: number, host: string, tags: string[]): Series[] {
  const { name, agg } = context;
  const gauge = (metric: string, value: number): Series => ({ metric, points: [[ts, value]], type: 'gauge', host, tags });
  // A count over the bucket, per second: the Datadog Agent's APIRateType with its 10 s interval.
  const rate = (metric: string, count: number): Series => ({
    metric,
    points: [[ts, count / BUCKET_SECONDS]],
    type: 'rate',
    interval: BUCKET_SECONDS,
    host,
    tags,
  });
  switch (agg.kind) {
    case 'gauge':
      return [gauge(name, agg.value)];
    case 'count':
      return [rate(name, agg.value)];
    case 'set':
      return [gauge(name, agg.members.size)];
    case 'histogram': {
      const sorted = agg.values.sorted();
      const sum = sorted.reduce((total, v) => total + v, 0);
      return [
        gauge(`${name}.avg`, sum / sorted.length),
        gauge(`${name}.max`, sorted[sorted.length - 1]!),
        gauge(`${name}.median`, percentile(sorted, 0.5)),
        gauge(`${name}.95percentile`, percentile(sorted, 0.95)),
        rate(`${name}.count`, agg.count),
      ];
    }
    case 'sketch':
      return []; // sent as a sketch (takeSketches), not as series
  }
}

/** Nearest-rank percentile of sorted values, as the Datadog Agent computes it. */
function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.max(0, Math.ceil(p * sorted.length) - 1);
  return sorted[Math.min(rank, sorted.length - 1)]!;
}
