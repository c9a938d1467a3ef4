/**
 * A better-sqlite3 that cannot load its native module is reported as what it is
 * (SQLITE_DRIVER_UNAVAILABLE, "run npm install or npm rebuild"), not as an unwritable data
 * directory: the errors are produced for real — a missing `.node` file and a file that is not
 * a native module — and a real unwritable directory still is DATA_DIR_NOT_WRITABLE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isDriverLoadError } from '../../src/store/open-store.js';

const loadError = (nativeBinding: string): unknown => {
  try {
    new Database(':memory:', { nativeBinding }).close();
    return undefined;
  } catch (error) {
    return error;
  }
};

test('native-module load failures are driver errors; file system errors are not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-driver-'));
  try {
    const missing = loadError(join(dir, 'better_sqlite3.node'));
    assert.ok(missing instanceof Error, 'a missing native module fails');
    assert.equal(isDriverLoadError(missing), true, String(missing));
    const notNative = join(dir, 'not-native.node');
    writeFileSync(notNative, 'not an ELF file');
    const broken = loadError(notNative);
    assert.ok(broken instanceof Error, 'a file that is not a native module fails');
    assert.equal(isDriverLoadError(broken), true, String(broken));
    const readOnly = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
    assert.equal(isDriverLoadError(readOnly), false);
    assert.equal(isDriverLoadError(Object.assign(new Error("EACCES: permission denied, mkdir '/x'"), { code: 'EACCES' })), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
