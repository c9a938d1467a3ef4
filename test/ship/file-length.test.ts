/**
 * No product file grows past ~400 lines without saying why (issue 16): a file over 420 lines
 * starts with a doc comment whose first line is `Long on purpose: <reason>`. A long file
 * without one fails here — split it by concept, or give the reason.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const LIMIT = 420;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [full] : [];
  });
}

test(`every src/ file over ${LIMIT} lines gives its reason on its first line`, () => {
  const files = sources(join(root, 'src'));
  assert.ok(files.length > 100, `found only ${files.length} source files`);
  const unexplained = files
    .filter((file) => readFileSync(file, 'utf8').split('\n').length > LIMIT)
    .filter((file) => !/^\/\*\*\n \* Long on purpose: \S.{10,}\n/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(root, file));
  assert.deepEqual(unexplained, []);
});
