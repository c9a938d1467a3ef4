import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardedPath } from './forwarded-headers.js';

describe('forwardedPath', () => {
  it('keeps an intake path and its query, without the keys', () => {
    assert.equal(forwardedPath('/api/v2/series'), '/api/v2/series');
    assert.equal(forwardedPath('/api/v1/series?api_key=k&application_key=a&x=1'), '/api/v1/series?x=1');
    assert.equal(forwardedPath('/intake/?api_key=k'), '/intake/');
  });
  it('keeps only the path of an absolute-form target (the upstream URL is ours, not the caller’s)', () => {
    assert.equal(forwardedPath('http://evil.example/api/v2/series'), '/api/v2/series');
  });
  it('resolves dot segments, so a path cannot climb out of the upstream base path', () => {
    assert.equal(forwardedPath('/api/v2/../../../v/api/v2/series'), undefined);
    assert.equal(forwardedPath('/api/v1/%2e%2e/%2e%2e/v/x'), undefined);
    assert.equal(forwardedPath('/api/v2/../v1/series'), '/api/v1/series');
  });
  it('refuses what is no intake path', () => {
    assert.equal(forwardedPath('/ui/keys'), undefined);
    assert.equal(forwardedPath('/apix'), undefined);
  });
});
