/**
 * How keys are stored: never in plaintext, only as HMAC-SHA256 under a per-deployment secret
 * (plus `last4` for display). With the secret kept apart from the database (a file in the
 * data directory, or `REKEY_SECRET`), a copy of the database alone does not even let an
 * attacker test guesses offline.
 *
 * Every part that looks up a key hashes it the same way, so the hash is the lookup index
 * and the cache key at the intake.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rekeyError } from '../errors.js';

export interface KeyHasher {
  /** The lookup hash of a key: 64 lowercase hex characters. */
  hash(key: string): string;
}

export function createKeyHasher(secret: Buffer): KeyHasher {
  if (secret.length < 16) throw new Error('the deployment secret must be at least 16 bytes');
  return {
    hash: (key) => createHmac('sha256', secret).update(key, 'utf8').digest('hex'),
  };
}

/** Compares two secrets or hashes in constant time (different lengths are simply unequal). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

export const SECRET_FILE_NAME = 'secret.key';

/**
 * The deployment secret: `REKEY_SECRET` when set (hex or any string of ≥ 16 bytes), else the
 * file `secret.key` in the data directory, created with mode 0600 on first use.
 */
export function loadDeploymentSecret(options: { dataDir?: string; env?: NodeJS.ProcessEnv }): Buffer {
  const env = options.env ?? process.env;
  const fromEnv = env.REKEY_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') {
    const secret = /^[0-9a-f]{32,}$/i.test(fromEnv) ? Buffer.from(fromEnv, 'hex') : Buffer.from(fromEnv, 'utf8');
    if (secret.length < 16) {
      throw rekeyError('USAGE', { detail: 'REKEY_SECRET must be at least 16 bytes (32 hex characters)' });
    }
    return secret;
  }
  if (options.dataDir === undefined) {
    throw rekeyError('USAGE', { detail: 'Set REKEY_SECRET (32+ hex characters) or use a data directory' });
  }
  const file = join(options.dataDir, SECRET_FILE_NAME);
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A path through a regular file can be neither read nor created: say so in one line.
    if (code === 'ENOTDIR') throw rekeyError('DATA_DIR_NOT_WRITABLE', { dir: options.dataDir, reason: code }, { cause: error });
    if (code !== 'ENOENT') throw error;
  }
  try {
    mkdirSync(options.dataDir, { recursive: true });
    const secret = randomBytes(32);
    writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return secret;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    throw rekeyError('DATA_DIR_NOT_WRITABLE', { dir: options.dataDir, reason: code ?? String(error) }, { cause: error });
  }
}
