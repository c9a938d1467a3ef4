/**
 * Every code of the error catalogue is documented in docs/errors.md with its real HTTP
 * status and exit code (a new code, or a changed status, fails here until
 * `node --import tsx scripts/gen-error-docs.ts` is run again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCatalogue } from '../../src/errors.js';
import { ERROR_DOCS_FILE, renderErrorDocs } from '../../scripts/gen-error-docs.js';

test('docs/errors.md documents every error code with its status and exit code', () => {
  const docs = readFileSync(ERROR_DOCS_FILE, 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of docs.split('\n')) {
    const match = /^\| `([A-Z0-9_]+)` \| (\d+) \| (\d) \|/.exec(line);
    if (match) rows.set(match[1]!, [match[2]!, match[3]!]);
  }
  const missing: string[] = [];
  for (const [code, entry] of Object.entries(errorCatalogue)) {
    const row = rows.get(code);
    if (row === undefined) {
      missing.push(code);
      continue;
    }
    assert.deepEqual(row, [String(entry.status), String(entry.exitCode)], `${code}: docs/errors.md says HTTP ${row[0]} / exit ${row[1]}`);
  }
  assert.deepEqual(missing, [], 'codes missing from docs/errors.md: run node --import tsx scripts/gen-error-docs.ts');
  const retired = [...rows.keys()].filter((code) => !(code in errorCatalogue));
  assert.deepEqual(retired, [], 'docs/errors.md lists codes the catalogue no longer has');
});

test('docs/errors.md is exactly what the generator writes, with a "when, and what to do" for every code', () => {
  // A hand edit of the file would be lost at the next generation: explanations live in the generator.
  assert.equal(
    readFileSync(ERROR_DOCS_FILE, 'utf8'),
    renderErrorDocs(),
    'docs/errors.md is stale or edited by hand: run node --import tsx scripts/gen-error-docs.ts',
  );
  const unexplained = renderErrorDocs()
    .split('\n')
    .filter((line) => /^\| `[A-Z0-9_]+` \|.* \|  \|$/.test(line))
    .map((line) => line.split('`')[1]);
  assert.deepEqual(unexplained, [], 'codes without an explanation in scripts/gen-error-docs.ts');
});
