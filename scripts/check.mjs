#!/usr/bin/env node
// The static checks of `npm test`: the Prettier layout check, the typecheck and the type-aware
// lint — the same three checks as `npm run format:check`, `npm run typecheck` and `npm run lint`,
// for less time.
//
// Why not the three scripts one after another: the lint builds and type-checks the same
// TypeScript program the typecheck has just built (typescript-eslint's type-aware rules need
// it), so the typecheck's whole cost was paid twice; and the three ran one after another. Here
// ONE program serves both: tsc's diagnostics are read from it, and ESLint is
// handed it (`parserOptions.programs`) instead of building its own; Prettier's check runs in a
// child process beside them. Measured on the 2-core CI machine (2026-12-01, shared with other
// jobs), old three scripts one after another against this, CPU seconds (wall):
//   load 2–4:     123.7 s (86 s)   against 79.4 s (81 s)
//   load 7.5–10:  154.2 s (377 s)  against 67.7 s (76 s)
// The wall gain is small on a quiet machine: the typecheck and the lint still run one after the
// other on one thread (V8's GC threads already gave the old lint more than one core).
//
// Exit status 1 when any check fails; each check's output is printed whole, in a fixed order.
import { spawn } from 'node:child_process';
import ts from 'typescript';
import { ESLint } from 'eslint';

const root = new URL('..', import.meta.url).pathname;

// Prettier first, in its own process, so it runs while this one builds the program.
const layout = new Promise((resolve) => {
  const child = spawn(process.execPath, [`${root}node_modules/prettier/bin/prettier.cjs`, '--check', '--log-level', 'warn', '.'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = [];
  child.stdout.on('data', (chunk) => out.push(chunk));
  child.stderr.on('data', (chunk) => out.push(chunk));
  child.on('error', (error) => resolve({ ok: false, text: `prettier did not start: ${error.message}\n` }));
  child.on('close', (code) => resolve({ ok: code === 0, text: Buffer.concat(out).toString('utf8') }));
});

// The typecheck: `tsc -p tsconfig.json --noEmit`, on a program kept for the lint.
const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => reportDiagnostics([diagnostic]) };
const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, { noEmit: true }, host);
if (!config) process.exit(1);
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, projectReferences: config.projectReferences });
const diagnostics = [...config.errors, ...ts.getPreEmitDiagnostics(program)];
reportDiagnostics(diagnostics);

function reportDiagnostics(list) {
  if (list.length === 0) return;
  const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  // As tsc prints them: with colour and context on a terminal, one line each elsewhere.
  const format = process.stdout.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;
  process.stdout.write(format(list, formatHost) + '\n');
}

// The lint: `eslint --max-warnings 0 .` with the program above instead of the config's project service.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, programs: [program] } } },
});
const results = await eslint.lintFiles(['.']);
const problems = results.reduce((sum, r) => sum + r.errorCount + r.warningCount, 0);
if (problems > 0) process.stdout.write(await (await eslint.loadFormatter('stylish')).format(results));

const prettier = await layout;
if (prettier.text) process.stdout.write(prettier.text);
if (!prettier.ok) process.stderr.write('npm test: the files above differ from the Prettier layout; npm run format fixes them\n');
if (diagnostics.length > 0) process.stderr.write(`npm test: the typecheck found ${diagnostics.length} error(s)\n`);
if (problems > 0) process.stderr.write(`npm test: the lint found ${problems} problem(s)\n`);
process.exit(prettier.ok && diagnostics.length === 0 && problems === 0 ? 0 : 1);
