import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigFile, validateConfigText, type ProblemCode } from './config-validator.js';
import { splitConfigText } from './config-text.js';

const GOOD = '0123456789abcdef0123456789abc7cd';
const fixtures = new URL('../../test/fixtures/config/', import.meta.url).pathname;

function codes(text: string, env: NodeJS.ProcessEnv = {}): Array<[number | null, ProblemCode]> {
  const report = validateConfigText(splitConfigText(text), 'datadog.x', env);
  for (const problem of report.problems) {
    assert.ok(problem.fix.length > 0 && problem.message.length > 0);
    assert.ok(!problem.message.includes(GOOD), 'no key in messages');
  }
  return report.problems.map((p) => [p.line, p.code]);
}

test('clean fixture files have no problems', async () => {
  for (const name of ['v5-datadog.conf', 'v5-crlf-bom.conf', 'v6-datadog.yaml', 'v6-crlf-bom.yaml', 'v6-secret-handle.yaml', 'v6-trailing-comment.yaml']) {
    const file = join(mkdtempSync(join(tmpdir(), 'rekey-validate-')), name);
    writeFileSync(file, readFileSync(fixtures + name));
    chmodSync(file, 0o640);
    assert.deepEqual((await validateConfigFile(file, { env: {} })).problems, [], name);
  }
});

test('each hand-editing mistake is found on its line', () => {
  assert.deepEqual(codes(`[Main]\napi_key: "${GOOD}"\n`), [[2, 'quoted']]);
  assert.deepEqual(codes(`api_key: '${GOOD}'\n`), [[1, 'quoted']]);
  assert.deepEqual(codes(`[Main]\napi_key:${GOOD}\n`), [[2, 'no_space_after_colon']]);
  assert.deepEqual(codes(`site: x\napi_key:${GOOD}\n`).slice(0, 1), [[2, 'no_space_after_colon']]);
  assert.deepEqual(codes(`[Main]\napi_key:\t${GOOD}\n`), [[2, 'tab']]);
  assert.deepEqual(codes(`[Main]\nsite: x\n[WMI]\napi_key: ${GOOD}\n`), [
    [4, 'outside_main'],
    [null, 'missing'],
  ]);
  assert.deepEqual(codes(`[Main]\napi_key: ${GOOD}\napi_key: ${GOOD}\n`), [[3, 'duplicate']]);
  assert.deepEqual(codes(`api_key: ${GOOD}\nsite: x\napi_key: ${GOOD}\n`), [[3, 'duplicate']]);
  assert.deepEqual(codes('[Main]\napi_key: youshouldsetthis\n'), [[2, 'placeholder']]);
  assert.deepEqual(codes('api_key: <YOUR_API_KEY>\n'), [[1, 'placeholder']]);
  assert.deepEqual(codes(`[Main]\napi_key: ${GOOD.slice(0, -1)}0\n`), [[2, 'malformed_key']]);
  assert.deepEqual(codes(`[Main]\napi_key: ${GOOD.toUpperCase()}\n`), [[2, 'malformed_key']]);
  assert.deepEqual(codes('[Main]\napi_key:\n'), [[2, 'empty']]);
  assert.deepEqual(codes('site: x\n'), [[null, 'missing']]);
  assert.deepEqual(codes('site: x\n', { DD_API_KEY: GOOD }), [], 'the key may come from the environment');
  assert.deepEqual(codes(`logs_config:\n  api_key: ${GOOD}\n`), [
    [2, 'nested'],
    [null, 'missing'],
  ]);
  assert.deepEqual(codes(`api_key: ${GOOD}\nadditional_endpoints:\n  "https://x": [abc]\n`), [[2, 'malformed_key']]);
  assert.deepEqual(codes(`api_key: ${GOOD}\nsite: a: b\n`), [[2, 'unparsable']]);
});

test('a world-readable file is reported with the chmod fix', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'rekey-validate-')), 'datadog.yaml');
  writeFileSync(file, `api_key: ${GOOD}\n`);
  chmodSync(file, 0o644);
  const report = await validateConfigFile(file, { env: {} });
  assert.deepEqual(
    report.problems.map((p) => p.code),
    ['world_readable'],
  );
  assert.match(report.problems[0]!.message, /mode 0644/);
  assert.match(report.problems[0]!.fix, /^chmod o-rwx /);
});
