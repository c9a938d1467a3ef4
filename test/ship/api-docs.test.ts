/**
 * docs/api.md is what scripts/gen-api-docs.ts renders from the server's OpenAPI document
 * today, and it documents every operation the server serves (a new or changed route fails
 * here until `node --import tsx scripts/gen-api-docs.ts` is run again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { API_DOCS_FILE, fetchOpenApiDocument, renderApiDocs } from '../../scripts/gen-api-docs.js';

test('docs/api.md is generated from the current OpenAPI document and lists every operation', { timeout: 60_000 }, async () => {
  const doc = await fetchOpenApiDocument();
  const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
  // The document really comes from the full app (management, intake), not an empty stub.
  for (const expected of ['POST /api/v2/api_keys', 'DELETE /api/v2/api_keys/{id}', 'GET /api/v1/validate', 'POST /api/v1/series', 'GET /api/v1/query']) {
    assert.ok(operations.includes(expected), `${expected} is in /api/openapi.json`);
  }
  const text = renderApiDocs(doc);
  for (const operation of operations) assert.ok(text.includes(`### \`${operation}\``), `${operation} is rendered`);
  assert.equal(readFileSync(API_DOCS_FILE, 'utf8'), text, 'docs/api.md is out of date: run node --import tsx scripts/gen-api-docs.ts');
});
