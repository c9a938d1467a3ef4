/**
 * The shape of rekey's keys (docs/product.md §2).
 *
 * API key: 32 lowercase hex = 28 random hex (112 bits) + 4 hex checksum.
 * Application key: 40 lowercase hex = 36 random hex (144 bits) + 4 hex checksum.
 * The checksum is the low 16 bits of zlib's CRC-32 over the random part, lowercase hex,
 * zero-padded. It lets the config tool, the agent and the intake reject a mistyped,
 * truncated or quoted key locally, before a restart or a database lookup.
 *
 * Keys keep Datadog's shape (32/40 lowercase hex) so every Datadog tool accepts them.
 *
 * @example
 *   const key = generateKey('api');           // 'f3a9…e1c2'
 *   parseKey(key, 'api');                     // { ok: true, key, kind: 'api' }
 *   parseKey(`"${key}"`, 'api').reason;       // 'quoted'
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

export type KeyKind = 'api' | 'app';

export const KEY_LENGTH: Readonly<Record<KeyKind, number>> = { api: 32, app: 40 };
const CHECKSUM_LENGTH = 4;

/** Why a string is not a valid key; each reason has a message saying what to change. */
export type KeyProblem = 'empty' | 'quoted' | 'whitespace' | 'encrypted_handle' | 'wrong_length' | 'uppercase' | 'non_hex' | 'bad_checksum';

/** The result of checking a key: an expected denial is data, not an exception. */
export type KeyCheck = { ok: true; key: string; kind: KeyKind } | { ok: false; reason: KeyProblem; message: string };

/** The 4-character checksum of a key body (everything but the last 4 characters). */
export function keyChecksum(body: string): string {
  return (crc32(body) & 0xffff).toString(16).padStart(CHECKSUM_LENGTH, '0');
}

/** A new key of `kind`, from `crypto.randomBytes`. */
export function generateKey(kind: KeyKind): string {
  const bodyLength = KEY_LENGTH[kind] - CHECKSUM_LENGTH; // 28 or 36 hex characters
  const body = randomBytes(bodyLength / 2).toString('hex');
  return body + keyChecksum(body);
}

const NAMES: Record<KeyKind, string> = { api: 'API key', app: 'application key' };

/**
 * Checks that `raw` is exactly a well-formed key of `kind` and says precisely what is wrong
 * when it is not. Never echoes the key in a message.
 *
 * `checksum: false` accepts a key with the right shape but without rekey's checksum: a key
 * issued by Datadog itself, which has no checksum. Use it only where the key was not typed by
 * a person (it came straight from the server's create response) or the user asked for it.
 */
export function parseKey(raw: string, kind: KeyKind, options: { checksum?: boolean } = {}): KeyCheck {
  const name = NAMES[kind];
  const expected = KEY_LENGTH[kind];
  const fail = (reason: KeyProblem, message: string): KeyCheck => ({ ok: false, reason, message });

  if (raw.length === 0) return fail('empty', `The ${name} is empty`);
  const trimmed = raw.trim();
  if (trimmed.length === 0) return fail('empty', `The ${name} is empty (only whitespace)`);
  if (/^ENC\[.*\]$/.test(trimmed)) {
    return fail('encrypted_handle', `The ${name} is a secret handle (ENC[…]), not a key; resolve it first`);
  }
  const quote = trimmed[0];
  if ((quote === '"' || quote === "'") && trimmed.length >= 2 && trimmed.endsWith(quote)) {
    return fail('quoted', `The ${name} is surrounded by quotes; remove the quotes`);
  }
  if (trimmed !== raw) {
    return fail('whitespace', `The ${name} has surrounding whitespace; remove the spaces, tabs or newlines around it`);
  }
  if (raw.length !== expected) {
    return fail('wrong_length', `The ${name} has ${raw.length} characters; it must have exactly ${expected} (was it truncated or pasted twice?)`);
  }
  if (/[A-F]/.test(raw) && /^[0-9a-fA-F]+$/.test(raw)) {
    return fail('uppercase', `The ${name} contains uppercase letters; keys are lowercase hex`);
  }
  const nonHex = raw.search(/[^0-9a-f]/);
  if (nonHex !== -1) {
    return fail('non_hex', `The ${name} has a character that is not lowercase hex at position ${nonHex + 1}; keys contain only 0-9 and a-f`);
  }
  const body = raw.slice(0, expected - CHECKSUM_LENGTH);
  if (options.checksum !== false && keyChecksum(body) !== raw.slice(expected - CHECKSUM_LENGTH)) {
    return fail('bad_checksum', `The ${name} fails its checksum: a character is mistyped or it is not a rekey key`);
  }
  return { ok: true, key: raw, kind };
}

/** The last 4 characters, the only part of a key ever shown after creation. */
export function last4(key: string): string {
  return key.slice(-4);
}

/** A key masked for display: `••••••••••••••••••••••••••••e1c2`. */
export function maskKey(key: string): string {
  return '•'.repeat(Math.max(0, key.length - 4)) + last4(key);
}
