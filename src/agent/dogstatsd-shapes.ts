/**
 * What a DogStatsD line says besides its value — name, type, sample rate, tags — parsed once
 * per distinct line and remembered with the aggregator's context key.
 *
 * Clients send the same few lines over and over with new values (`page.views:1|c|#env:prod`).
 * Parsing the name, type and tags and building the context key for every line made a dozen
 * short-lived objects per packet; at 20,000 packets/s that garbage kept the young generation
 * collecting and the agent's heap larger (bench/agent-resources.ts). With the shape
 * remembered, a line costs the slices of its name, its rest and its value.
 *
 * The answer is always the parser's (parseDogStatsDLine): a shape is parsed from the line
 * with its value replaced by `0`, which every type accepts, and the value is checked by the
 * same parseDogStatsDValues. Bounded: past `maxShapes` distinct shapes, or `maxChars`
 * characters of lines remembered, it starts over, so a flood of distinct names or tags (or of
 * 60 KB tags) costs a parse per line, never unbounded memory. A remembered line is copied,
 * so it does not keep the whole datagram it was sliced from alive.
 *
 * @example
 *   const shapes = new DogStatsDShapes((shape) => aggregator.contextKey(shape));
 *   shapes.get('hits:1|c|#a', 4, 6); // { name: 'hits', type: 'c', …, key: 'c|hits|a' }
 */
import { isEventOrServiceCheck, parseDogStatsDLine, type DogStatsDShape } from './dogstatsd-parser.js';

/** A parsed shape and its aggregator context key. */
export interface KnownShape extends DogStatsDShape {
  readonly key: string;
}

export class DogStatsDShapes {
  /** name → rest of the line from the `|` after the value → shape, or why it is malformed. */
  private readonly byName = new Map<string, Map<string, KnownShape | string>>();
  private size = 0;
  private chars = 0;

  constructor(
    private readonly contextKey: (shape: DogStatsDShape) => string,
    private readonly maxShapes = 4096,
    private readonly maxChars = 2 * 1024 * 1024,
  ) {}

  /**
   * The shape of `line`, whose name ends at `colon` (its first `:`) and whose value ends at
   * `bar` (the first `|` after it); or the reason the line is malformed whatever its value;
   * or null when it is not a metric line (an event or a service check).
   */
  get(line: string, colon: number, bar: number): KnownShape | string | null {
    if (isEventOrServiceCheck(line)) return null;
    const name = line.slice(0, colon);
    const rest = line.slice(bar);
    let shapes = this.byName.get(name);
    const known = shapes?.get(rest);
    if (known !== undefined) return known;
    const parsed = parseDogStatsDLine(`${name}:0${rest}`);
    if (parsed.kind !== 'sample' && parsed.kind !== 'malformed') return null;
    let shape: KnownShape | string;
    if (parsed.kind === 'malformed') {
      shape = parsed.reason;
    } else {
      const { type, sampleRate, tags, rawTags } = parsed.sample;
      shape = { name: parsed.sample.name, type, sampleRate, tags, rawTags, key: this.contextKey(parsed.sample) };
    }
    // What this entry keeps: the name, the rest, the line parsed from them (its tags are
    // slices of it) and the context key.
    const cost = name.length + 2 * rest.length + (typeof shape === 'string' ? 0 : shape.key.length);
    if (this.size >= this.maxShapes || this.chars + cost > this.maxChars) {
      this.byName.clear();
      this.size = 0;
      this.chars = 0;
      shapes = undefined;
    }
    if (shapes === undefined) {
      shapes = new Map();
      this.byName.set(copyString(name), shapes);
    }
    shapes.set(copyString(rest), shape);
    this.size++;
    this.chars += cost;
    return shape;
  }

  /** Number of shapes remembered. */
  get count(): number {
    return this.size;
  }

  /** Characters of lines remembered (bounded by `maxChars`). */
  get cachedChars(): number {
    return this.chars;
  }
}

/**
 * A copy of `text` that does not share memory with the string it was sliced from: V8 keeps
 * the whole parent (here a datagram of up to 64 KB) alive for as long as a slice of it lives.
 */
export function copyString(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}
