import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateKey } from '../keys/key-format.js';
import { createServerLogger, maskUrl } from './logger.js';

describe('server logger', () => {
  it('maskUrl removes every secret query parameter value, wherever it sits in the URL', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('api_key', 'application_key', 'API_KEY', 'dd-api-key'),
        fc.array(fc.stringMatching(/^[a-z]{1,8}=[a-z0-9]{0,8}$/), { maxLength: 3 }),
        fc.array(fc.stringMatching(/^[a-z]{1,8}=[a-z0-9]{0,8}$/), { maxLength: 3 }),
        (name, before, after) => {
          const key = generateKey('api');
          const url = `/api/v1/series?${[...before, `${name}=${key}`, ...after].join('&')}`;
          const masked = maskUrl(url);
          assert.ok(!masked.includes(key), masked);
          assert.ok(masked.includes(`${name}=[REDACTED]`));
          for (const part of [...before, ...after]) assert.ok(masked.includes(part));
        },
      ),
    );
    assert.equal(maskUrl('/api/v2/api_keys?page[size]=10'), '/api/v2/api_keys?page[size]=10');
  });

  it('maskUrl masks a path segment that holds a key, plain or percent-encoded, and keeps the rest', () => {
    const key = generateKey('api');
    const encoded = [...key].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    assert.equal(maskUrl(`/api/v1/validate/${key}`), '/api/v1/validate/[REDACTED]');
    assert.equal(maskUrl(`/nope/${encoded}?page=2`), '/nope/[REDACTED]?page=2');
    assert.equal(maskUrl(`/x/prefix-${key}-suffix/y?api_key=${key}`), '/x/[REDACTED]/y?api_key=[REDACTED]');
    assert.equal(maskUrl('/api/v2/api_keys/0190c6b2-7d3a-7c11-9a2e-1f2b3c4d5e6f'), '/api/v2/api_keys/0190c6b2-7d3a-7c11-9a2e-1f2b3c4d5e6f');
    // A truncated key is most of a key: masked too (31 of 32 characters, or 16 of them).
    assert.equal(maskUrl(`/api/v1/validate?api_key_typo=${key.slice(0, 31)}&x=1`), '/api/v1/validate?[REDACTED]=[REDACTED]&x=1');
    assert.equal(maskUrl(`/api/v1/validate/${key.slice(0, 16)}`), '/api/v1/validate/[REDACTED]');
    assert.equal(maskUrl(`/api/v1/validate/${key.slice(0, 15)}`), `/api/v1/validate/${key.slice(0, 15)}`);
  });

  it('redacts key headers and cookies from any logged headers object', () => {
    let out = '';
    const stream = new Writable({ write: (chunk, _e, done) => ((out += chunk), done()) });
    const logger = createServerLogger({ stream });
    const apiKey = generateKey('api');
    const appKey = generateKey('app');
    logger.info({ headers: { 'dd-api-key': apiKey, 'dd-application-key': appKey, cookie: `session=${appKey}`, 'user-agent': 'curl' } }, 'raw headers');
    logger.info({ req: { method: 'GET', url: `/api/v1/validate?api_key=${apiKey}`, headers: { 'dd-api-key': apiKey } } }, 'request');
    assert.ok(!out.includes(apiKey) && !out.includes(appKey), out);
    assert.match(out, /curl/);
    assert.match(out, /api_key=\[REDACTED\]/);
  });
});
