/**
 * Property tests over config files from the outside world: random valid v5/v6 files (LF or
 * CRLF, BOM or not, final newline or not, comments, other sections, key present, commented
 * out or missing) and random invalid inputs. The edits skip the late-append watch
 * (`lateAppendWindowMs: 0`): nobody else writes these files, and at 0.25 s an edit it made 600
 * edits take minutes; test/faults/config-concurrent-append.test.ts tests the watch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { setApiKeyInFile } from '../../src/config/config-file-editor.js';
import { showConfig } from '../../src/config/config-show.js';
import { isRekeyError } from '../../src/errors.js';
import { keyChecksum, last4 } from '../../src/keys/key-format.js';
import { changedRegion, OLD_KEY } from './config-corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'rekey-props-'));
const file = join(dir, 'datadog.cfg');

const validKey = fc.stringMatching(/^[0-9a-f]{28}$/).map((body) => body + keyChecksum(body));
const name = fc.stringMatching(/^[a-z][a-z_]{0,10}$/).filter((n) => !['api_key', 'additional_endpoints', 'rem', 'tags'].includes(n));
const value = fc.stringMatching(/^[a-z0-9][a-z0-9.:/-]{0,20}$/).filter((v) => !/:$|:\/|^\d+$/.test(v));
const commentText = fc.stringMatching(/^[ -~]{0,40}$/);

interface Shape {
  format: 'v5' | 'v6';
  eol: '\n' | '\r\n';
  bom: boolean;
  finalNewline: boolean;
  keyState: 'present' | 'commented' | 'missing';
  keyAt: number;
  body: string[];
  otherSection: string[];
}

const line = (format: 'v5' | 'v6') =>
  fc.oneof(
    fc.tuple(name, value).map(([n, v]) => `${n}: ${v}`),
    commentText.map((c) => `#${c}`),
    ...(format === 'v5' ? [commentText.map((c) => `;${c}`)] : [fc.tuple(name, value).map(([n, v]) => `${n}:\n  nested_${n}: ${v}`)]),
    fc.constant(''),
  );

const shape: fc.Arbitrary<Shape> = fc.constantFrom<'v5' | 'v6'>('v5', 'v6').chain((format) =>
  fc.record({
    format: fc.constant(format),
    eol: fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
    bom: fc.boolean(),
    finalNewline: fc.boolean(),
    keyState: fc.constantFrom<'present' | 'commented' | 'missing'>('present', 'commented', 'missing'),
    keyAt: fc.nat(),
    body: fc.array(line(format), { maxLength: 12 }),
    otherSection: format === 'v5' ? fc.array(line('v5'), { maxLength: 5 }) : fc.constant([]),
  }),
);

/** Renders a shape; YAML keys are made unique, as the Agent requires. */
function render(s: Shape): string {
  const seen = new Set<string>();
  const body = s.body.filter((l) => {
    const key = /^([a-z_]+):/.exec(l)?.[1];
    if (key === undefined) return true;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const keyLine = s.keyState === 'present' ? `api_key: ${OLD_KEY}` : s.keyState === 'commented' ? '# api_key: <YOUR_API_KEY>' : null;
  if (keyLine !== null) body.splice(s.keyAt % (body.length + 1), 0, keyLine);
  if (s.format === 'v6' && s.keyState === 'missing' && !seen.has('site')) body.unshift('site: datadoghq.com');
  const lines = s.format === 'v5' ? ['[Main]', ...body, ...(s.otherSection.length > 0 ? ['[WMI]', ...s.otherSection] : [])] : body;
  let text = lines.join('\n').split('\n').join(s.eol);
  if (s.finalNewline) text += s.eol;
  return (s.bom ? '\uFEFF' : '') + text;
}

test('random valid files: set then show returns the key, and exactly one line is new or changed', async () => {
  await fc.assert(
    fc.asyncProperty(shape, validKey, async (s, key) => {
      fc.pre(key !== OLD_KEY);
      const before = Buffer.from(render(s), 'utf8');
      writeFileSync(file, before);
      const result = await setApiKeyInFile(file, key, { backup: false, lateAppendWindowMs: 0 });
      const after = readFileSync(file);
      const report = await showConfig(file, {});
      assert.equal(report.apiKey.source, 'file');
      assert.equal(report.apiKey.last4, last4(key));
      assert.equal(report.format, s.format);
      const region = changedRegion(before, after);
      const apiLines = region.added.filter((l) => l.replace(/\r?\n$/, '') === `api_key: ${key}`);
      assert.equal(apiLines.length, 1, 'one api_key line written');
      if (result.action === 'replaced') {
        assert.deepEqual(region.removed, [`api_key: ${OLD_KEY}${/\r?\n$/.exec(region.removed[0] ?? '')?.[0] ?? ''}`]);
        assert.equal(region.added.length, 1);
      } else {
        // Inserted: nothing removed, or the old last line that gains the newline it lacked.
        assert.ok(
          region.removed.length === 0 ||
            (region.removed.length === 1 && region.added[0] !== region.removed[0] && region.added[0]!.replace(/\r?\n$/, '') === region.removed[0]),
        );
        assert.equal(region.added.length, region.removed.length + 1);
      }
      assert.equal(after.subarray(0, 3).toString('latin1') === '\xef\xbb\xbf', s.bom, 'BOM kept');
      assert.equal(/\n$/.test(after.toString()), /\n$/.test(before.toString()) || (region.removed.length === 0 && before.length === 0), 'final newline kept');
      // A file without any line break gets LF; otherwise the file's own style is kept.
      if (before.includes('\r\n')) assert.ok(!/[^\r]\n/.test(after.toString()), 'CRLF file stays CRLF');
      else assert.ok(!after.includes('\r'), 'LF file stays LF');
    }),
    { numRuns: 150 },
  );
});

const badKey = fc.oneof(
  fc.string({ maxLength: 40 }),
  validKey.map((k) => `"${k}"`),
  validKey.map((k) => `'${k}'`),
  validKey.map((k) => ` ${k}`),
  validKey.map((k) => `${k}\t`),
  validKey.map((k) => k.toUpperCase()).filter((k) => /[A-F]/.test(k)),
  validKey.map((k) => k.slice(0, 31)),
  validKey.map((k) => k + k),
  fc.tuple(validKey, fc.nat(31)).map(([k, i]) => k.slice(0, i) + (k[i] === '0' ? '1' : '0') + k.slice(i + 1)),
  fc.stringMatching(/^ENC\[[a-z_]{1,10}\]$/),
);

test('random invalid keys: a clear exit-2 error without the key, file unchanged', async () => {
  await fc.assert(
    fc.asyncProperty(shape, badKey, async (s, key) => {
      const before = Buffer.from(render(s), 'utf8');
      writeFileSync(file, before);
      await assert.rejects(
        () => setApiKeyInFile(file, key, { backup: true, lateAppendWindowMs: 0 }),
        (error: unknown) => {
          assert.ok(isRekeyError(error, 'MALFORMED_KEY'), String(error));
          assert.equal(error.exitCode, 2);
          assert.ok(error.message.length > 10 && !error.message.includes('\n'));
          if (key.trim().length >= 8) assert.ok(!error.message.includes(key.trim()), 'the key is not echoed');
          return true;
        },
      );
      assert.deepEqual(readFileSync(file), before);
      assert.deepEqual(readdirSync(dir), ['datadog.cfg'], 'no backup or temp file');
    }),
    { numRuns: 150 },
  );
});

test('random file contents: either a correct one-line edit or an exit-2 refusal with the file unchanged, never a crash', async () => {
  const contents = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    fc
      .array(
        fc.oneof(line('v6'), line('v5'), fc.constantFrom('[Main]', '[WMI]', 'api_key: x', 'api_key:', '- a', '---', '  x: y', 'api_key: [', 'api_key: |')),
        { maxLength: 10 },
      )
      .map((ls) => ls.join('\n')),
  );
  await fc.assert(
    fc.asyncProperty(contents, validKey, async (text, key) => {
      const before = Buffer.from(text, 'latin1');
      writeFileSync(file, before);
      try {
        await setApiKeyInFile(file, key, { backup: false, lateAppendWindowMs: 0 });
      } catch (error) {
        assert.ok(isRekeyError(error), `only catalogue errors, got ${String(error)}`);
        assert.equal(error.exitCode, 2, error.message);
        assert.ok(!error.message.includes('\n'), 'one-line message');
        assert.ok(error.message.includes(file), `names the file: ${error.message}`);
        assert.deepEqual(readFileSync(file), before, 'file unchanged');
        return;
      }
      const report = await showConfig(file, {});
      assert.equal(report.apiKey.last4, last4(key));
      const region = changedRegion(before, readFileSync(file));
      assert.ok(region.added.length - region.removed.length <= 1 && region.added.length <= 2, JSON.stringify(region));
    }),
    { numRuns: 300 },
  );
});
