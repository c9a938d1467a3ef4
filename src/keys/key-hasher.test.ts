import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRekeyError } from '../errors.js';
import { generateKey } from './key-format.js';
import { SECRET_FILE_NAME, constantTimeEqual, createKeyHasher, loadDeploymentSecret } from './key-hasher.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-hasher-'));
  dirs.push(dir);
  return dir;
}
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('createKeyHasher', () => {
  it('is deterministic, 64 hex characters, and differs per secret and per key', () => {
    const secret = randomBytes(32);
    const key = generateKey('api');
    const hash = createKeyHasher(secret).hash(key);
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.equal(createKeyHasher(Buffer.from(secret)).hash(key), hash);
    assert.notEqual(createKeyHasher(randomBytes(32)).hash(key), hash);
    assert.notEqual(createKeyHasher(secret).hash(generateKey('api')), hash);
    assert.ok(!hash.includes(key));
  });

  it('refuses a secret shorter than 16 bytes', () => {
    assert.throws(() => createKeyHasher(randomBytes(15)), /at least 16 bytes/);
  });
});

describe('loadDeploymentSecret', () => {
  it('creates secret.key once with mode 0600 and reuses it', () => {
    const dataDir = join(tempDir(), 'data');
    const first = loadDeploymentSecret({ dataDir, env: {} });
    assert.equal(first.length, 32);
    const file = join(dataDir, SECRET_FILE_NAME);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), first.toString('hex'));
    assert.deepEqual(loadDeploymentSecret({ dataDir, env: {} }), first);
  });

  it('prefers REKEY_SECRET: hex is decoded, other text used as bytes, short is refused', () => {
    const dataDir = tempDir();
    const hex = randomBytes(32).toString('hex');
    assert.deepEqual(loadDeploymentSecret({ dataDir, env: { REKEY_SECRET: hex } }), Buffer.from(hex, 'hex'));
    const text = 'a passphrase that is long enough';
    assert.deepEqual(loadDeploymentSecret({ dataDir, env: { REKEY_SECRET: text } }), Buffer.from(text, 'utf8'));
    assert.throws(
      () => loadDeploymentSecret({ dataDir, env: { REKEY_SECRET: 'short' } }),
      (e: unknown) => isRekeyError(e, 'USAGE'),
    );
    assert.throws(() => statSync(join(dataDir, SECRET_FILE_NAME)), /ENOENT/, 'no file written when the env gives the secret');
    assert.throws(
      () => loadDeploymentSecret({ env: {} }),
      (e: unknown) => isRekeyError(e, 'USAGE'),
    );
  });

  it('reports a data directory that cannot be written', () => {
    const blocker = join(tempDir(), 'file');
    writeFileSync(blocker, 'x');
    assert.throws(
      () => loadDeploymentSecret({ dataDir: join(blocker, 'data'), env: {} }),
      (e: unknown) => isRekeyError(e, 'DATA_DIR_NOT_WRITABLE') && /file\/data is not writable/.test((e as Error).message),
    );
  });
});

describe('constantTimeEqual', () => {
  it('compares equal and unequal strings, of equal and different lengths', () => {
    assert.equal(constantTimeEqual('abc', 'abc'), true);
    assert.equal(constantTimeEqual('abc', 'abd'), false);
    assert.equal(constantTimeEqual('abc', 'abcd'), false);
    assert.equal(constantTimeEqual('', ''), true);
  });
});
