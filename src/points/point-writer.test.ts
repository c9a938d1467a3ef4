import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rekeyError } from '../errors.js';
import { STORAGE_RETRY_AFTER_SECONDS, storageFailure } from './point-writer.js';

const errno = (code: string) => Object.assign(new Error(`${code}: something at /data/intake-journal/x.journal`), { code });

describe('storageFailure: what the intake answers when a batch cannot be kept', () => {
  it('is 503 INTAKE_STORAGE_FAILED naming the errno, never the path, for every refused write', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY_DBMOVED']) {
      const failure = storageFailure(errno(code));
      assert.equal(failure.code, 'INTAKE_STORAGE_FAILED');
      assert.equal(failure.status, 503);
      assert.match(failure.message, new RegExp(`\\(${code}: `));
      assert.match(failure.message, new RegExp(`Retry in ${STORAGE_RETRY_AFTER_SECONDS} s`));
      assert.doesNotMatch(failure.message, /intake-journal/);
    }
  });

  it('says only "the store refused the write" for an error it does not know, and keeps it as the cause', () => {
    const cause = new Error('connection reset at 10.0.0.1');
    const failure = storageFailure(cause);
    assert.match(failure.message, /the store refused the write/);
    assert.equal(failure.cause, cause);
  });

  it('passes a catalogue error through as it is', () => {
    const own = rekeyError('INVALID_PAYLOAD', { detail: 'x' });
    assert.equal(storageFailure(own), own);
  });
});
