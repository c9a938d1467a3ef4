/**
 * Every command of `rekey` and `rekey-agent` answers `--help` with exit code 0, and
 * docs/cli.md holds exactly what they print today (regenerate with
 * `node --import tsx scripts/gen-cli-docs.ts` after changing a command).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLI_DOCS_FILE, collectHelpPages, renderCliDocs } from '../../scripts/gen-cli-docs.js';

test('every --help exits 0 and docs/cli.md is up to date', { timeout: 300_000 }, async () => {
  const pages = await collectHelpPages();
  const commands = pages.map((page) => page.command.join(' '));
  // The walk really found the commands the README and docs/product.md promise.
  for (const expected of [
    'rekey',
    'rekey server',
    'rekey rotate',
    'rekey config',
    'rekey config set-api-key',
    'rekey config show',
    'rekey-agent',
    'rekey-agent run',
  ]) {
    assert.ok(commands.includes(expected), `${expected} --help was not found (found: ${commands.join(', ')})`);
  }
  for (const page of pages) {
    assert.equal(page.exitCode, 0, `${page.command.join(' ')} --help exited ${page.exitCode}: ${page.stderr}`);
    assert.match(page.stdout, new RegExp(`^Usage: ${page.command.join(' ')}`), `${page.command.join(' ')} --help printed its usage`);
  }
  assert.equal(readFileSync(CLI_DOCS_FILE, 'utf8'), renderCliDocs(pages), 'docs/cli.md is out of date: run node --import tsx scripts/gen-cli-docs.ts');
});
