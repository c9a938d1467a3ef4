/**
 * Every relative link in README.md and docs/*.md points to a file or folder that exists in
 * the repository, and the README's two commands are the package's real scripts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../support/processes.js';

const documents = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`),
];

test('relative links in the README and docs resolve', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const document of documents) {
    const text = readFileSync(join(repoRoot, document), 'utf8');
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!.split('#')[0]!;
      if (target === '' || /^[a-z]+:/i.test(target)) continue;
      checked++;
      if (!existsSync(join(repoRoot, dirname(document), target))) broken.push(`${document}: ${match[1]}`);
    }
  }
  assert.ok(checked > 20, `found the links (${checked})`);
  assert.deepEqual(broken, []);
});

test('the README shows the real start, test and demo commands', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(readme, /```sh\nnpm install && npm start\n```/);
  assert.match(readme, /```sh\nnpm test\n```/);
  assert.match(readme, /```sh\nnpm run demo\n```/);
  for (const name of ['start', 'test', 'demo', 'bench']) assert.ok(scripts[name], `package.json has scripts.${name}`);
});
