/**
 * The upstream API key, encrypted at rest. The relay must send the upstream key itself (it
 * cannot keep only a hash, as it does for the keys it issues), so the database holds it as
 * AES-256-GCM ciphertext under a key derived (HKDF-SHA-256) from the deployment secret —
 * `REKEY_SECRET`, else `secret.key` in the data directory (SQLite) or the secret created once in
 * the database's `deployment_settings` (PostgreSQL); see `Store.deploymentSecret()`.
 *
 * Why derive rather than reuse the secret: the same secret keys the API-key hashes; HKDF with
 * its own `info` gives an independent key for this one purpose. The organisation's id is the
 * additional authenticated data, so a ciphertext copied onto another organisation's row does
 * not decrypt. Format: `v1:` + base64(12-byte IV ‖ 16-byte tag ‖ ciphertext).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { rekeyError } from '../errors.js';

const VERSION = 'v1:';
const INFO = 'rekey relay upstream api key v1';

export class UpstreamKeyCipher {
  private readonly key: Buffer;

  constructor(deploymentSecret: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', deploymentSecret, Buffer.alloc(0), INFO, 32));
  }

  encrypt(orgId: string, apiKey: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(orgId, 'utf8'));
    const body = Buffer.concat([cipher.update(apiKey, 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** UPSTREAM_KEY_UNREADABLE when the deployment secret changed or the value was tampered with. */
  decrypt(orgId: string, encrypted: string): string {
    try {
      if (!encrypted.startsWith(VERSION)) throw new Error('unknown format');
      const bytes = Buffer.from(encrypted.slice(VERSION.length), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
      decipher.setAAD(Buffer.from(orgId, 'utf8'));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    } catch (error) {
      throw rekeyError('UPSTREAM_KEY_UNREADABLE', { orgId }, { cause: error });
    }
  }
}
