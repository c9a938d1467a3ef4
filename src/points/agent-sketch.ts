/**
 * Distributions as the Datadog Agent keeps them: a DDSketch (@datadog/sketches-js, Datadog's
 * own implementation) whose bins are the Agent's (its `pkg/quantile` config: relative accuracy
 * 1/128, so γ = 1 + 2/128; keys are round-to-even(log_γ v) + bias, where the bias makes the
 * smallest distinguishable value 1e-9 key 1; negative values have negated keys; 0 is key 0).
 *
 * Using the Agent's keys, not the library's default mapping, means a sketch moves between
 * rekey-agent, a real Datadog Agent and the server as its (key, count) bins, unchanged: the
 * `Dogsketch` of the `/api/beta/sketches` protobuf (sketch-payload-proto.ts). A bin's value is
 * γ^(key − bias), the geometric middle of the values it holds, so any quantile read back is
 * within γ^½ − 1 ≈ 0.78 % of a value that really is at that rank: inside DDSketch's 1 %
 * relative-accuracy guarantee.
 *
 * @example
 *   const sketch = newAgentSketch();
 *   for (const v of values) sketch.accept(v);
 *   const bins = toDogsketch(sketch, ts); // { ts, cnt, min, max, avg, sum, k, n }
 *   fromDogsketch(bins).getValueAtQuantile(0.95);
 */
import { DDSketch } from '@datadog/sketches-js';

const EPS = 1 / 128;
export const AGENT_GAMMA = 1 + 2 * EPS;
const LN_GAMMA = Math.log1p(2 * EPS);
const MIN_VALUE = 1e-9;
const BIAS = -Math.floor(Math.log(MIN_VALUE) / LN_GAMMA) + 1;
/** Keys are int16 in the Agent. */
const MAX_KEY = 32767;

/** The relative accuracy of a quantile read from these bins (≈ 0.78 %). */
export const AGENT_SKETCH_RELATIVE_ACCURACY = Math.sqrt(AGENT_GAMMA) - 1;

function roundToEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The Agent's key mapping, in the shape of the library's `Mapping` (positive values only: the
 * sketch keeps signs apart). `toProto` says "logarithmic, γ, offset = bias": the library's own
 * serialisation is not used here (it would read back with its ceil-based keys); bins travel
 * as Dogsketch keys instead.
 */
class AgentKeyMapping {
  readonly gamma = AGENT_GAMMA;
  /** (γ − 1) / (γ + 1): what the library derives γ from. */
  readonly relativeAccuracy = (AGENT_GAMMA - 1) / (AGENT_GAMMA + 1);
  readonly minPossible = AGENT_GAMMA ** (1 - BIAS);
  readonly maxPossible = AGENT_GAMMA ** (MAX_KEY - BIAS);

  key(value: number): number {
    return Math.min(MAX_KEY, Math.max(1, roundToEven(Math.log(value) / LN_GAMMA) + BIAS));
  }

  value(key: number): number {
    return AGENT_GAMMA ** (key - BIAS);
  }

  toProto(): { gamma: number; indexOffset: number; interpolation: 0 } {
    return { gamma: AGENT_GAMMA, indexOffset: BIAS, interpolation: 0 };
  }
}

const MAPPING = new AgentKeyMapping();

/** An empty DDSketch with the Agent's bins. */
export function newAgentSketch(): DDSketch {
  const sketch = new DDSketch({ relativeAccuracy: MAPPING.relativeAccuracy });
  sketch.mapping = MAPPING;
  return sketch;
}

/** The Agent protobuf's `Dogsketch` message, as plain data. */
export interface Dogsketch {
  /** Epoch seconds: the start of the 10 s bucket. */
  ts: number;
  cnt: number;
  min: number;
  max: number;
  avg: number;
  sum: number;
  /** Bin keys, ascending (negative values first, 0, then positive). */
  k: number[];
  /** Counts of the bins, whole numbers. */
  n: number[];
}

/**
 * A sketch's bins as the Agent sends them. Counts are whole numbers on the wire; weights from
 * sample rates (1 / 0.3…) are rounded the Agent's way, carrying each bin's remainder into the
 * next so the total stays right.
 */
export function toDogsketch(sketch: DDSketch, ts: number): Dogsketch {
  const bins: Array<[number, number]> = [];
  const negative = sketch.negativeStore;
  for (let i = negative.bins.length - 1; i >= 0; i--) if (negative.bins[i]! > 0) bins.push([-(i + negative.offset), negative.bins[i]!]);
  if (sketch.zeroCount > 0) bins.push([0, sketch.zeroCount]);
  const positive = sketch.store;
  for (let i = 0; i < positive.bins.length; i++) if (positive.bins[i]! > 0) bins.push([i + positive.offset, positive.bins[i]!]);
  const k: number[] = [];
  const n: number[] = [];
  let carry = 0;
  for (const [key, weight] of bins) {
    const total = weight + carry;
    const whole = Math.floor(total);
    carry = total - whole;
    if (whole > 0) {
      k.push(key);
      n.push(whole);
    }
  }
  if (carry >= 0.5 && n.length > 0) n[n.length - 1]! += 1;
  const cnt = n.reduce((a, b) => a + b, 0);
  return { ts, cnt, min: sketch.min, max: sketch.max, sum: sketch.sum, avg: cnt > 0 ? sketch.sum / sketch.count : 0, k, n };
}

/** A DDSketch holding a Dogsketch's bins, with its exact count, sum, min and max. */
export function fromDogsketch(bins: Pick<Dogsketch, 'k' | 'n' | 'cnt' | 'sum' | 'min' | 'max'>): DDSketch {
  const sketch = newAgentSketch();
  mergeDogsketch(sketch, bins);
  return sketch;
}

/** Adds a Dogsketch's bins and summary into `sketch` (the server's merge of sketches across series and buckets). */
export function mergeDogsketch(sketch: DDSketch, bins: Pick<Dogsketch, 'k' | 'n' | 'cnt' | 'sum' | 'min' | 'max'>): void {
  let total = 0;
  for (let i = 0; i < bins.k.length; i++) {
    const key = bins.k[i]!;
    const count = bins.n[i]!;
    if (!(count > 0)) continue;
    total += count;
    if (key > 0) sketch.store.add(Math.min(key, MAX_KEY), count);
    else if (key < 0) sketch.negativeStore.add(Math.min(-key, MAX_KEY), count);
    else sketch.zeroCount += count;
  }
  // Ranks are taken over the bins: count is what they hold.
  sketch.count += total;
  sketch.sum += bins.sum;
  if (bins.min < sketch.min) sketch.min = bins.min;
  if (bins.max > sketch.max) sketch.max = bins.max;
}
