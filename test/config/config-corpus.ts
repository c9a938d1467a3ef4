/**
 * Shared by the config tests: the fixture corpus, fixed test keys and a line-level diff
 * that tells exactly which lines of a file an edit touched (terminators included).
 */
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixturesDir = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
/** The key in the fixtures (valid rekey checksum). */
export const OLD_KEY = '0123456789abcdef0123456789abc7cd';
export const NEW_KEY = 'aaaabbbbccccddddeeeeffff0000c58f';
export const OTHER_KEY = '111122223333444455556666777793a5';

export function fixtureNames(): string[] {
  return readdirSync(fixturesDir)
    .filter((name) => /\.(conf|yaml)$/.test(name))
    .sort();
}

/** Copies a fixture into a fresh temp directory; returns its path there. */
export function copyFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
  const file = join(dir, name);
  copyFileSync(join(fixturesDir, name), file);
  return file;
}

/** Lines with their terminators, so a changed CRLF counts as a changed line (a BOM is compared apart). */
export function rawLines(data: Buffer | string): string[] {
  const text = (typeof data === 'string' ? data : data.toString('utf8')).replace(/^\uFEFF/, '');
  return text.match(/[^\r\n]*(\r\n|\n|\r)|[^\r\n]+$/g) ?? [];
}

/** The lines between the common prefix and the common suffix of two texts. */
export function changedRegion(before: Buffer | string, after: Buffer | string): { start: number; removed: string[]; added: string[] } {
  const a = rawLines(before);
  const b = rawLines(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  return { start, removed: a.slice(start, a.length - end), added: b.slice(start, b.length - end) };
}
