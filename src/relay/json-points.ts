/**
 * Long on purpose: one JSON grammar validated byte by byte with the few fields it counts, which only make sense read together.
 * The points per host of a JSON series or distribution body in one pass over its bytes, without
 * JSON.parse (issue 19: the relay counts every payload it forwards, forwarded-usage.ts).
 *
 * It yields exactly what `JSON.parse` then reading `series[].points` / `host` / `resources`
 * yields (forwarded-usage.test.ts and json-points.test.ts hold that reading as the oracle and
 * compare with fast-check): it validates the whole body as JSON.parse does (the grammar, no
 * control characters in strings, no BOM, nothing after the value) and returns undefined for
 * what JSON.parse refuses; keys are compared after their escapes are read ("p\u006fints" is
 * "points"); a key given twice counts by its last value, as JSON.parse keeps the last. Only the
 * strings whose value matters (hosts, a resource's type, keys with escapes) become JS strings.
 *
 * Bounded work: one forward pass, no recursion — the known shape has a fixed depth (at most 5:
 * body, series, series object, points, point values) and every other value is skipped by a
 * loop with its own stack (one byte per open container), so 64 KiB of `[` costs no more than
 * 64 KiB of anything else.
 *
 * Why not JSON.parse: it builds every object, array, number and string of the body only for
 * the counting to read the lengths of a few arrays. Measured in bench/relay-count.ts (figures in
 * forwarded-usage.ts).
 */
import { MAX_HOST_NAME } from '../intake/series-limits.js';
import { QUOTE, BACKSLASH, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, COMMA, COLON, MINUS, PLUS, DOT, ZERO, NINE } from '../intake/json-bytes.js';

/** A payload's points per host ('' for points without one); empty when it has none. */
export type PointsPerHost = Map<string, number>;

/** The JSON payloads that carry points: v1 series, v2 series, v1 distribution points. */
export type JsonFormat = 'v1' | 'v2' | 'distribution';

/** Adds `points` under `host` as the intake would name it: not a string, or too long: ''. */
export function addPoints(counts: PointsPerHost, host: unknown, points: number): void {
  if (points <= 0) return;
  const name = typeof host === 'string' && host.length <= MAX_HOST_NAME ? host : '';
  counts.set(name, (counts.get(name) ?? 0) + points);
}

/** The keys the counting reads; any other key is OTHER. */
const OTHER = 0;
const SERIES = 1;
const POINTS = 2;
const HOST = 3;
const RESOURCES = 4;
const TYPE = 5;
const NAME = 6;
const KEY_IDS = new Map<string, number>([
  ['series', SERIES],
  ['points', POINTS],
  ['host', HOST],
  ['resources', RESOURCES],
  ['type', TYPE],
  ['name', NAME],
]);
const KEY_BYTES = new Map([...KEY_IDS].map(([name, id]) => [id, Buffer.from(name, 'latin1')]));

/** Thrown (one object, no stack trace) at the first byte JSON.parse would refuse. */
const INVALID = Object.freeze({ invalid: true });

/** The bytes allowed after a backslash in a string (besides `u`). */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const char of '"\\/bfnrt') SIMPLE_ESCAPE[char.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const char of '0123456789abcdefABCDEF') HEX[char.charCodeAt(0)] = 1;

/** A resource list's host before one is found (a found host may be undefined: not a string). */
const NO_HOST_RESOURCE = Symbol('no host resource');

/**
 * The points per host of `body` read as `format`, or undefined when JSON.parse would refuse
 * the body. A body that parses but has no `series` array counts an empty map.
 */
export function countJsonPoints(format: JsonFormat, body: Buffer): PointsPerHost | undefined {
  // A larger body gets its own copy, dropped after: the shared one must not keep 62 MiB alive.
  const bytes = body.length < SCRATCH_BYTES ? scratch : new Uint8Array(body.length + 1);
  bytes.set(body);
  bytes[body.length] = 0;
  try {
    return new PointReader(bytes, body, format).read();
  } catch (error) {
    if (error === INVALID) return undefined;
    throw error;
  }
}

/**
 * The known shape, read with `at` on the instance; values of no interest go to the module's
 * functions below (`skipValue` and the scalars), which keep their position in locals — the
 * hot loop: most of a series body is points and tags it only skips.
 */
class PointReader {
  private at = 0;
  /** The last string `decode` made, and where its bytes are. */
  private lastDecoded: { start: number; end: number; escaped: boolean; text: string } | undefined;

  /** `bytes`: the body and a 0 after it (in `scratch`); `body`: the body, for its strings. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly body: Buffer,
    private readonly format: JsonFormat,
  ) {}

  read(): PointsPerHost {
    let counts: PointsPerHost | undefined;
    if (this.peek() === OPEN_BRACE) {
      this.at++;
      for (let first = true; this.nextMember(first, CLOSE_BRACE); first = false) {
        // The last `series` wins, as in JSON.parse's object.
        if (this.key() === SERIES) counts = this.series();
        else this.skip();
      }
    } else this.skip();
    if (skipWhitespace(this.bytes, this.at) !== this.body.length) throw INVALID;
    return counts ?? new Map();
  }

  /** `series`: an array of series objects, or (anything else) no points. */
  private series(): PointsPerHost | undefined {
    if (this.peek() !== OPEN_BRACKET) return void this.skip();
    this.at++;
    const counts: PointsPerHost = new Map();
    for (let first = true; this.nextMember(first, CLOSE_BRACKET); first = false) {
      if (this.peek() === OPEN_BRACE) this.seriesObject(counts);
      else this.skip();
    }
    return counts;
  }

  /** One series: its points (last `points` wins) under its host (v1 `host`, v2 the host resource). */
  private seriesObject(counts: PointsPerHost): void {
    this.at++; // {
    let points = -1; // -1: `points` missing or not an array
    let host: string | undefined;
    let resourceHost: string | undefined;
    for (let first = true; this.nextMember(first, CLOSE_BRACE); first = false) {
      const key = this.key();
      if (key === POINTS) points = this.points();
      else if (key === HOST) host = this.stringValue();
      else if (key === RESOURCES) resourceHost = this.resources();
      else this.skip();
    }
    if (points >= 0) addPoints(counts, this.format === 'v2' ? resourceHost : host, points);
  }

  /** The points of a `points` value: its elements (distribution: the values of each [ts, [values]]); -1 if not an array. */
  private points(): number {
    if (this.peek() !== OPEN_BRACKET) return (this.skip(), -1);
    this.at++;
    let points = 0;
    const distribution = this.format === 'distribution';
    for (let first = true; this.nextMember(first, CLOSE_BRACKET); first = false) {
      if (distribution && this.peek() === OPEN_BRACKET) points += this.distributionValues();
      else {
        if (!distribution) points++;
        this.skip();
      }
    }
    return points;
  }

  /** A distribution point `[ts, [values…]]`: the number of values when its second element is an array. */
  private distributionValues(): number {
    this.at++; // [
    let values = 0;
    for (let index = 0; this.nextMember(index === 0, CLOSE_BRACKET); index++) {
      if (index === 1 && this.peek() === OPEN_BRACKET) {
        this.at++;
        for (let first = true; this.nextMember(first, CLOSE_BRACKET); first = false) {
          values++;
          this.skip();
        }
      } else this.skip();
    }
    return values;
  }

  /** v2 `resources`: the `name` of the first object whose `type` is "host" (undefined if none, or not a string). */
  private resources(): string | undefined {
    if (this.peek() !== OPEN_BRACKET) return void this.skip();
    this.at++;
    let found: string | undefined | typeof NO_HOST_RESOURCE = NO_HOST_RESOURCE;
    for (let first = true; this.nextMember(first, CLOSE_BRACKET); first = false) {
      if (this.peek() !== OPEN_BRACE) {
        this.skip();
        continue;
      }
      this.at++;
      let isHost = false;
      // The last `name` string, decoded only if this is the host resource: where it is, or -1.
      let nameStart = -1;
      let nameEnd = 0;
      let nameEscaped = false;
      for (let firstMember = true; this.nextMember(firstMember, CLOSE_BRACE); firstMember = false) {
        const key = this.key();
        if (key === TYPE) isHost = this.isHostString();
        else if (key === NAME) {
          nameStart = -1;
          if (this.bytes[this.at] !== QUOTE) this.skip();
          else {
            nameStart = this.at + 1;
            this.at = skipString(this.bytes, this.at);
            nameEnd = this.at - 1;
            nameEscaped = stringHadEscape;
          }
        } else this.skip();
      }
      if (isHost && found === NO_HOST_RESOURCE) found = nameStart < 0 ? undefined : this.decode(nameStart, nameEnd, nameEscaped);
    }
    return found === NO_HOST_RESOURCE ? undefined : found;
  }

  /**
   * Past the separator before the next member or element of the container being read: true when
   * there is one (whitespace skipped), false once `close` is consumed.
   */
  private nextMember(first: boolean, close: number): boolean {
    const byte = this.peek();
    if (byte === close) {
      this.at++;
      return false;
    }
    if (!first) {
      if (byte !== COMMA) throw INVALID;
      this.at = skipWhitespace(this.bytes, this.at + 1);
    }
    return true;
  }

  /** A member's key and its colon; which known key it is (OTHER if none). */
  private key(): number {
    const bytes = this.bytes;
    const start = this.at + 1;
    if (bytes[this.at] !== QUOTE) throw INVALID;
    const end = skipString(bytes, this.at) - 1;
    // Without escapes, compared as bytes (no string made); with, decoded ("p\u006fints" is points).
    const id = stringHadEscape ? (KEY_IDS.get(this.decode(start, end, true)) ?? OTHER) : knownKey(bytes, start, end);
    const colon = skipWhitespace(bytes, end + 1);
    if (bytes[colon] !== COLON) throw INVALID;
    this.at = skipWhitespace(bytes, colon + 1);
    return id;
  }

  /** A value that matters only if it is a string: its JS string, or undefined (the value skipped). */
  private stringValue(): string | undefined {
    if (this.bytes[this.at] !== QUOTE) return void this.skip();
    const start = this.at + 1;
    this.at = skipString(this.bytes, this.at);
    return this.decode(start, this.at - 1, stringHadEscape);
  }

  /** Whether the value is the string "host" (a resource's `type`), without making a string unless it has escapes. */
  private isHostString(): boolean {
    const bytes = this.bytes;
    const start = this.at + 1;
    if (bytes[this.at] !== QUOTE) return (this.skip(), false);
    this.at = skipString(bytes, this.at);
    if (stringHadEscape) return this.decode(start, this.at - 1, true) === 'host';
    return this.at - 1 - start === 4 && bytes[start] === 0x68 && bytes[start + 1] === 0x6f && bytes[start + 2] === 0x73 && bytes[start + 3] === 0x74;
  }

  /**
   * The string between `start` and `end` (its quotes excluded), decoded as JSON.parse would. The
   * last one decoded is kept: a payload's series mostly name the same host (10 of 10 in the
   * relay bench's), and comparing its bytes is cheaper than decoding them again.
   */
  private decode(start: number, end: number, escaped: boolean): string {
    const last = this.lastDecoded;
    if (last !== undefined && last.end - last.start === end - start && last.escaped === escaped) {
      let same = true;
      for (let i = 0; i < end - start && same; i++) same = this.bytes[last.start + i] === this.bytes[start + i];
      if (same) return last.text;
    }
    const raw = this.body.toString('utf8', start, end);
    // Rare (a host or key with an escape): the string alone, validated already, through JSON.parse.
    const text = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
    this.lastDecoded = { start, end, escaped, text };
    return text;
  }

  private skip(): void {
    this.at = skipValue(this.bytes, this.at);
  }

  /** The byte after any whitespace (0 at the end). */
  private peek(): number {
    this.at = skipWhitespace(this.bytes, this.at);
    return this.bytes[this.at]!;
  }
}

/**
 * The body being read and a 0 byte after it, reused (the reading is synchronous) for bodies
 * under SCRATCH_BYTES. The 0 ends every loop as an invalid byte (no JSON value may hold a raw
 * 0), so the loops need no bounds check and every read is a number. Measured: with bounds checks and `undefined` past the end,
 * the 100-point payload took 36–40 µs of CPU; with the 0, 10–11 µs (load ~12, 2026-12-01).
 */
const SCRATCH_BYTES = 256 * 1024;
const scratch = new Uint8Array(SCRATCH_BYTES);
/** Whether the last string `skipString` read held a backslash (set by it; read at once). */
let stringHadEscape = false;
/** Open containers of a skipped value, innermost last: 1 for an object, 0 for an array. Reused: the reading is synchronous. */
let containers = new Uint8Array(256);

/** The index of the first non-whitespace byte from `at` (space, tab, LF, CR: JSON.parse accepts no other). */
function skipWhitespace(bytes: Uint8Array, at: number): number {
  for (;;) {
    const byte = bytes[at]!;
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return at;
    at++;
  }
}

/** A string from its opening quote at `at`: the index after its closing quote. No control characters, only JSON's escapes. */
function skipString(bytes: Uint8Array, at: number): number {
  let escaped = false;
  at++;
  for (;;) {
    const byte = bytes[at]!;
    if (byte === QUOTE) break;
    if (byte < 0x20) throw INVALID;
    if (byte === BACKSLASH) {
      escaped = true;
      const next = bytes[at + 1]!;
      if (next === 0x75 /* u */) {
        if (HEX[bytes[at + 2]!] !== 1 || HEX[bytes[at + 3]!] !== 1 || HEX[bytes[at + 4]!] !== 1 || HEX[bytes[at + 5]!] !== 1) throw INVALID;
        at += 6;
      } else if (SIMPLE_ESCAPE[next] === 1) at += 2;
      else throw INVALID;
    } else at++;
  }
  stringHadEscape = escaped;
  return at + 1;
}

/** A JSON number at `at` (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?): the index after it. */
function skipNumber(bytes: Uint8Array, at: number): number {
  if (bytes[at] === MINUS) at++;
  let byte = bytes[at]!;
  if (byte === ZERO) byte = bytes[++at]!;
  else if (byte > ZERO && byte <= NINE) {
    do byte = bytes[++at]!;
    while (byte >= ZERO && byte <= NINE);
  } else throw INVALID;
  if (byte === DOT) {
    byte = bytes[++at]!;
    if (byte < ZERO || byte > NINE) throw INVALID;
    do byte = bytes[++at]!;
    while (byte >= ZERO && byte <= NINE);
  }
  if (byte === 0x65 || byte === 0x45) {
    byte = bytes[++at]!;
    if (byte === PLUS || byte === MINUS) byte = bytes[++at]!;
    if (byte < ZERO || byte > NINE) throw INVALID;
    do byte = bytes[++at]!;
    while (byte >= ZERO && byte <= NINE);
  }
  return at;
}

/** Which known key the unescaped bytes from `start` to `end` are (OTHER if none). */
function knownKey(bytes: Uint8Array, start: number, end: number): number {
  let id: number;
  switch (end - start) {
    case 4:
      id = bytes[start] === 0x68 ? HOST : bytes[start] === 0x74 ? TYPE : NAME;
      break;
    case 6:
      id = bytes[start] === 0x73 ? SERIES : POINTS;
      break;
    case 9:
      id = RESOURCES;
      break;
    default:
      return OTHER;
  }
  const known = KEY_BYTES.get(id)!;
  for (let i = 0; i < known.length; i++) if (bytes[start + i] !== known[i]) return OTHER;
  return id;
}

/** `true`, `false` or `null` at `at` (`literal` is which): the index after it. */
function skipLiteral(bytes: Uint8Array, at: number, literal: string): number {
  for (let i = 0; i < literal.length; i++) if (bytes[at + i] !== literal.charCodeAt(i)) throw INVALID;
  return at + literal.length;
}

/** A key of a skipped object (unread) from its quote at `at`, and its colon: the index of its value. */
function skipKey(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== QUOTE) throw INVALID;
  at = skipWhitespace(bytes, skipString(bytes, at));
  if (bytes[at] !== COLON) throw INVALID;
  return skipWhitespace(bytes, at + 1);
}

/**
 * Any value from `at` (whitespace before it allowed), validated: the index after it and the
 * whitespace after it. Nesting is kept on `containers`, not the call stack.
 */
function skipValue(bytes: Uint8Array, at: number): number {
  let depth = 0;
  value: for (;;) {
    at = skipWhitespace(bytes, at);
    const byte = bytes[at]!;
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      at = skipWhitespace(bytes, at + 1);
      if (bytes[at] === (byte === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET)) at++;
      else {
        if (depth === containers.length) {
          const grown = new Uint8Array(containers.length * 2);
          grown.set(containers);
          containers = grown;
        }
        containers[depth++] = byte === OPEN_BRACE ? 1 : 0;
        if (byte === OPEN_BRACE) at = skipKey(bytes, at);
        continue value;
      }
    } else if (byte === QUOTE) at = skipString(bytes, at);
    else if (byte === MINUS || (byte >= ZERO && byte <= NINE)) at = skipNumber(bytes, at);
    else if (byte === 0x74) at = skipLiteral(bytes, at, 'true');
    else if (byte === 0x66) at = skipLiteral(bytes, at, 'false');
    else if (byte === 0x6e) at = skipLiteral(bytes, at, 'null');
    else throw INVALID;
    // After a value: close the containers it ends, or go on to the next member or element.
    for (;;) {
      at = skipWhitespace(bytes, at);
      if (depth === 0) return at;
      const isObject = containers[depth - 1] === 1;
      const next = bytes[at]!;
      if (next === COMMA) {
        at = skipWhitespace(bytes, at + 1);
        if (isObject) at = skipKey(bytes, at);
        continue value;
      }
      if (next !== (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) throw INVALID;
      at++;
      depth--;
    }
  }
}
