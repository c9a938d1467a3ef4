/**
 * Parses DogStatsD datagrams (https://docs.datadoghq.com/developers/dogstatsd/datagram_shell/):
 *
 *   metric.name:value[:value…]|type[|@sample_rate][|#tag1:value,tag2][|c:container][|T timestamp]
 *
 * Types: `g` gauge, `c` count, `s` set, `h` histogram, `d` distribution, `ms` timing.
 * A packet may hold several lines separated by `\n`. Events (`_e{…}`) and service checks
 * (`_sc|…`) are parsed by dogstatsd-events.ts and forwarded like the Datadog Agent does. Anything else that does not parse is reported as
 * malformed and never throws: the input comes from any process on the host.
 *
 * This runs for every packet, so it uses indexOf/slice instead of regular expressions.
 */

import { parseDogStatsDEvent, parseDogStatsDServiceCheck, type AgentEvent, type AgentServiceCheck } from './dogstatsd-events.js';

export type DogStatsDType = 'g' | 'c' | 's' | 'h' | 'd' | 'ms';

/** Everything a line says but its value: the same for every line of one metric context. */
export interface DogStatsDShape {
  readonly name: string;
  readonly type: DogStatsDType;
  /** 0 < sampleRate ≤ 1. */
  readonly sampleRate: number;
  /** Tags as sent, in order; `[]` when none. */
  readonly tags: string[];
  /** The tag field as sent (without `#`), `''` when none: a cheap cache key for the aggregator. */
  readonly rawTags: string;
}

export interface DogStatsDSample extends DogStatsDShape {
  /** Numeric values (one per `:`-separated value); empty for sets. */
  readonly values: number[];
  /** The raw member for sets. */
  readonly setValue: string;
}

export type ParsedLine =
  | { kind: 'sample'; sample: DogStatsDSample }
  | { kind: 'event'; event: AgentEvent }
  | { kind: 'serviceCheck'; check: AgentServiceCheck }
  | { kind: 'skipped' } // blank line
  | { kind: 'malformed'; reason: string };

/** `_e{…}` or `_sc|…`: not a metric line. */
export function isEventOrServiceCheck(line: string): boolean {
  return line.startsWith('_e{') || line.startsWith('_sc|');
}

const TYPES = new Set<string>(['g', 'c', 's', 'h', 'd', 'ms']);
const MAX_NAME_LENGTH = 200;

function malformed(reason: string): ParsedLine {
  return { kind: 'malformed', reason };
}

/** Parses one line (no newline); an event or service check without `d:` gets `nowSeconds`. */
export function parseDogStatsDLine(line: string, nowSeconds = Math.floor(Date.now() / 1000)): ParsedLine {
  if (line.length === 0 || line === '\r') return { kind: 'skipped' };
  if (line.charCodeAt(line.length - 1) === 0x0d) line = line.slice(0, -1);
  if (line.startsWith('_e{')) {
    const event = parseDogStatsDEvent(line, nowSeconds);
    return typeof event === 'string' ? malformed(event) : { kind: 'event', event };
  }
  if (line.startsWith('_sc|')) {
    const check = parseDogStatsDServiceCheck(line, nowSeconds);
    return typeof check === 'string' ? malformed(check) : { kind: 'serviceCheck', check };
  }

  const colon = line.indexOf(':');
  if (colon <= 0) return malformed('no "name:" prefix');
  if (colon > MAX_NAME_LENGTH) return malformed('metric name too long');
  const name = line.slice(0, colon);
  if (!isValidName(name)) return malformed('metric name has invalid characters');

  // indexOf scanning instead of split('|'): this is the per-packet hot path.
  const valueEnd = line.indexOf('|', colon + 1);
  if (valueEnd < 0) return malformed('no "|type"');
  const rawValue = line.slice(colon + 1, valueEnd);
  let typeEnd = line.indexOf('|', valueEnd + 1);
  if (typeEnd < 0) typeEnd = line.length;
  const type = line.slice(valueEnd + 1, typeEnd);
  if (!TYPES.has(type)) return malformed(`unknown type "${type.slice(0, 10)}"`);

  let sampleRate = 1;
  let tags: string[] = [];
  let rawTags = '';
  let fieldStart = typeEnd + 1;
  while (fieldStart <= line.length && typeEnd < line.length) {
    let fieldEnd = line.indexOf('|', fieldStart);
    if (fieldEnd < 0) fieldEnd = line.length;
    const first = line.charCodeAt(fieldStart);
    if (first === 0x40 /* @ */) {
      const rateText = line.slice(fieldStart + 1, fieldEnd);
      const rate = Number(rateText);
      if (rateText.length === 0 || rateText.trim() !== rateText || !Number.isFinite(rate) || rate <= 0 || rate > 1) return malformed('bad sample rate');
      sampleRate = rate;
    } else if (first === 0x23 /* # */) {
      rawTags = line.slice(fieldStart + 1, fieldEnd);
      tags = rawTags.length > 0 ? rawTags.split(',').filter((tag) => tag.length > 0) : [];
    }
    // `c:` container ids, `T` timestamps and future extensions are ignored.
    if (fieldEnd === line.length) break;
    fieldStart = fieldEnd + 1;
  }

  const values = parseDogStatsDValues(rawValue, type as DogStatsDType);
  if (typeof values === 'string') return malformed(values);
  return { kind: 'sample', sample: { name, type: type as DogStatsDType, values, setValue: type === 's' ? rawValue : '', sampleRate, tags, rawTags } };
}

/**
 * The value part of a line (between `name:` and `|type`): numbers for every type but sets
 * (`[]`: the member is the raw text), or the reason it is malformed. Shared by
 * parseDogStatsDLine and the server's per-shape fast path, so both accept the same values.
 */
export function parseDogStatsDValues(rawValue: string, type: DogStatsDType): number[] | string {
  if (type === 's') return rawValue.length === 0 ? 'empty set member' : [];
  const values: number[] = [];
  let partStart = 0;
  for (;;) {
    let partEnd = rawValue.indexOf(':', partStart);
    if (partEnd < 0) partEnd = rawValue.length;
    const part = partStart === 0 && partEnd === rawValue.length ? rawValue : rawValue.slice(partStart, partEnd);
    // Number('') is 0 and Number(' 1') is 1: reject both explicitly.
    if (part.length === 0 || isSpace(part.charCodeAt(0)) || isSpace(part.charCodeAt(part.length - 1))) return 'empty or padded value';
    const value = Number(part);
    if (!Number.isFinite(value)) return 'value is not a finite number';
    // Number() also reads 0x10, 0b1 and 0o7, which the Datadog Agent refuses: refuse them too.
    if (isRadixPrefixed(part)) return 'value is not a decimal number';
    values.push(value);
    if (partEnd === rawValue.length) break;
    partStart = partEnd + 1;
  }
  if (type === 'g' && values.length !== 1) return 'a gauge takes one value';
  return values;
}

/** `0x…`, `0b…`, `0o…` (with an optional sign): forms only JavaScript's Number() accepts. */
function isRadixPrefixed(part: string): boolean {
  const at = part.charCodeAt(0) === 0x2b || part.charCodeAt(0) === 0x2d ? 1 : 0;
  if (part.charCodeAt(at) !== 0x30 || part.length < at + 2) return false;
  const c = part.charCodeAt(at + 1) | 0x20;
  return c === 0x78 || c === 0x62 || c === 0x6f;
}

/** What String.prototype.trim removes at the ends that matters here (ASCII and NBSP/BOM). */
function isSpace(c: number): boolean {
  return (
    c <= 0x20 ||
    c === 0xa0 ||
    c === 0xfeff ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x3000 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x1680 ||
    c === 0x202f ||
    c === 0x205f
  );
}

/** Names: printable ASCII without spaces, `|`, `:`, `#`, `@` or `,`. */
function isValidName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x7c || c === 0x23 || c === 0x40 || c === 0x2c) return false;
  }
  return true;
}

/** Splits a packet into lines and parses each one. */
export function parseDogStatsDPacket(packet: string): ParsedLine[] {
  return packet.split('\n').map(parseDogStatsDLine);
}
