/**
 * docs/compatibility.md is what scripts/gen-compatibility.ts renders from test/compat/matrix.ts,
 * every row of the matrix has its compat test (`compatCase('<id>'` in test/compat/*.test.ts),
 * and every compat test names a row: a stale document, a row nobody tests or a test of a row
 * that is gone fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMPATIBILITY_FILE, renderCompatibility } from '../../scripts/gen-compatibility.js';
import { repoRoot } from '../support/processes.js';
import { MATRIX } from './matrix.js';

test('docs/compatibility.md is generated from the current matrix', () => {
  assert.equal(
    readFileSync(COMPATIBILITY_FILE, 'utf8'),
    renderCompatibility(),
    'docs/compatibility.md is stale: run node --import tsx scripts/gen-compatibility.ts',
  );
});

test('every matrix row has exactly one compat test, and every compat test names a row', () => {
  const dir = join(repoRoot, 'test/compat');
  const cases = new Map<string, number>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.test.ts') && name !== 'matrix.test.ts')) {
    for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/compatCase\(\s*'([^']+)'/g)) cases.set(match[1]!, (cases.get(match[1]!) ?? 0) + 1);
  }
  const ids = MATRIX.map((row) => row.id);
  assert.equal(new Set(ids).size, ids.length, 'row ids are unique');
  for (const id of ids) assert.equal(cases.get(id), 1, `row ${id} has exactly one compatCase`);
  for (const id of cases.keys()) assert.ok(ids.includes(id), `compatCase('${id}') names a row of the matrix`);
  for (const row of MATRIX) assert.equal(row.status === 'works', row.note === '', `${row.id}: a note exactly when it does not simply work`);
});
