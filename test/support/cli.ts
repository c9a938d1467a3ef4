/**
 * What the CLI tests (test/store/admin-cli.test.ts, test/store/user-lifecycle-cli.test.ts)
 * share: temp directories removed after the file, an environment with no rekey configuration,
 * and the assertion that a failure is one line of stderr with no stack trace.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { RunResult } from './processes.js';

/** A maker of temp directories named `<prefix>…`; every one is removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

/** The environment of a user with no rekey configuration (the test runner's may have some). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['REKEY_DATA', 'REKEY_DATABASE_URL', 'REKEY_SECRET']) delete env[name];
  return { ...env, ...extra };
}

/** The command failed with `exitCode` and one line of stderr matching `pattern`, no stack trace. */
export function assertOneLineError(result: RunResult, exitCode: 1 | 2, pattern: RegExp): void {
  assert.equal(result.code, exitCode, `exit code; stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line of stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at |unexpected error/, 'no stack trace');
}
