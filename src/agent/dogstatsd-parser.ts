/**
 * Parses DogStatsD datagrams (https://docs.datadoghq.com/developers/dogstatsd/datagram_shell/):
 *
 *   metric.name:value[:value…]|type[|@sample_rate][|#tag1:value,tag2][|c:container][|T timestamp]
 *
 * Types: `g` gauge, `c` count, `s` set, `h` histogram, `d` distribution, `ms` timing.
 * A packet may hold several lines separated by `\n`. Events (`_e{…}`) and service checks
 * (`_sc|…`) are recognised and skipped. Anything else that does not parse is reported as
 * malformed and never throws: the input comes from any process on the host.
 *
 * This runs for every packet, so it uses indexOf/slice instead of regular expressions.
 */

export type DogStatsDType = 'g' | 'c' | 's' | 'h' | 'd' | 'ms';

export interface DogStatsDSample {
  readonly name: string;
  readonly type: DogStatsDType;
  /** Numeric values (one per `:`-separated value); empty for sets. */
  readonly values: number[];
  /** The raw member for sets. */
  readonly setValue: string;
  /** 0 < sampleRate ≤ 1. */
  readonly sampleRate: number;
  /** Tags as sent, in order; `[]` when none. */
  readonly tags: string[];
}

export type ParsedLine =
  | { kind: 'sample'; sample: DogStatsDSample }
  | { kind: 'skipped' } // event, service check or blank line
  | { kind: 'malformed'; reason: string };

const TYPES = new Set<string>(['g', 'c', 's', 'h', 'd', 'ms']);
const MAX_NAME_LENGTH = 200;

function malformed(reason: string): ParsedLine {
  return { kind: 'malformed', reason };
}

/** Parses one line (no newline). */
export function parseDogStatsDLine(line: string): ParsedLine {
  if (line.length === 0 || line === '\r') return { kind: 'skipped' };
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.startsWith('_e{') || line.startsWith('_sc|')) return { kind: 'skipped' };

  const colon = line.indexOf(':');
  if (colon <= 0) return malformed('no "name:" prefix');
  const name = line.slice(0, colon);
  if (name.length > MAX_NAME_LENGTH) return malformed('metric name too long');
  if (!isValidName(name)) return malformed('metric name has invalid characters');

  const fields = line.slice(colon + 1).split('|');
  if (fields.length < 2) return malformed('no "|type"');
  const rawValue = fields[0]!;
  const type = fields[1]!;
  if (!TYPES.has(type)) return malformed(`unknown type "${type.slice(0, 10)}"`);

  let sampleRate = 1;
  let tags: string[] = [];
  for (let i = 2; i < fields.length; i++) {
    const field = fields[i]!;
    if (field.startsWith('@')) {
      const rate = Number(field.slice(1));
      if (field.length === 1 || !Number.isFinite(rate) || rate <= 0 || rate > 1) return malformed('bad sample rate');
      sampleRate = rate;
    } else if (field.startsWith('#')) {
      tags = field.length > 1 ? field.slice(1).split(',').filter((tag) => tag.length > 0) : [];
    }
    // `c:` container ids, `T` timestamps and future extensions are ignored.
  }

  if (type === 's') {
    if (rawValue.length === 0) return malformed('empty set member');
    return { kind: 'sample', sample: { name, type, values: [], setValue: rawValue, sampleRate, tags } };
  }

  const values: number[] = [];
  for (const part of rawValue.split(':')) {
    // Number('') is 0 and Number(' 1') is 1: reject both explicitly.
    if (part.length === 0 || part.trim() !== part) return malformed('empty or padded value');
    const value = Number(part);
    if (!Number.isFinite(value)) return malformed('value is not a finite number');
    values.push(value);
  }
  if (type === 'g' && values.length !== 1) return malformed('a gauge takes one value');
  return { kind: 'sample', sample: { name, type: type as DogStatsDType, values, setValue: '', sampleRate, tags } };
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
