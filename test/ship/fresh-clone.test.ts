/**
 * A fresh clone works exactly as the README says. The committed HEAD is cloned into a
 * temporary folder and the README's first command is run there, literally:
 * `npm install && npm start` (better-sqlite3 may compile from source: minutes, hence the
 * generous timeout), with REKEY_PORT=0 (the port it prints) and REKEY_DATA (a temporary folder) so it
 * cannot collide with anything. It must serve /healthz, print the admin credentials once,
 * and stop on SIGTERM.
 *
 * The README's second command, `npm test`, is not run here: it would run this very test
 * again inside the clone, forever. Instead the clone's `test` script is checked to be
 * scripts/run-tests.mjs with the static checks (--checks), and that runner is run in the clone on one quick
 * suite, which proves the command works there.
 *
 * better-sqlite3 installs through prebuild-install: it downloads a prebuilt binary from GitHub
 * and, only when it cannot, compiles SQLite from source with node-gyp. The CI machine cannot
 * reach GitHub, so every run compiled SQLite (the file cost 192 s of CPU, 2026-12-01). The
 * test offers prebuild-install, through its own option, the binary this checkout's install
 * already has — the file a download would bring — so the clone installs as on a machine with
 * network. The compile fallback is better-sqlite3's, not rekey's; REKEY_TEST_COMPILE_SQLITE=1
 * runs it anyway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, run } from '../support/processes.js';

/**
 * The environment that hands prebuild-install this checkout's better-sqlite3 binary as a local
 * prebuild (`npm_config_better_sqlite3_local_prebuilds`, a directory holding the tarball under
 * the name prebuild-install would download), or nothing — then the clone downloads or compiles —
 * when the clone's lockfile asks for another version, or REKEY_TEST_COMPILE_SQLITE=1.
 */
function localPrebuilds(dir: string, clone: string): NodeJS.ProcessEnv {
  if (process.env.REKEY_TEST_COMPILE_SQLITE === '1') return {};
  const installed = join(repoRoot, 'node_modules', 'better-sqlite3');
  const binary = join(installed, 'build', 'Release', 'better_sqlite3.node');
  const version = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version;
  const lock = JSON.parse(readFileSync(join(clone, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  if (!existsSync(binary) || lock.packages['node_modules/better-sqlite3']?.version !== version) return {};
  const prebuilds = join(dir, 'prebuilds');
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['-czf', join(prebuilds, name), '-C', installed, 'build/Release/better_sqlite3.node'], { stdio: 'pipe' });
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

test('fresh clone: `npm install && npm start` serves, prints the credentials once, stops on SIGTERM', { timeout: 1_800_000 }, async (t) => {
  // Mode 0700, like root's home where a root user usually clones (`/root/rekey`): nothing the
  // suite runs as another user (the embedded PostgreSQL's `postgres` user) may need to enter it.
  const dir = mkdtempSync(join(tmpdir(), 'rekey-fresh-clone-'));
  chmodSync(dir, 0o700);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clone = join(dir, 'rekey');
  execFileSync('git', ['clone', '--quiet', repoRoot, clone], { stdio: 'pipe', timeout: 120_000 });
  const data = join(dir, 'data');

  // Its own process group so the whole tree (sh → npm → sh → node) can be signalled.
  const child = spawn('sh', ['-c', 'npm install && npm start'], {
    cwd: clone,
    env: {
      ...process.env,
      ...localPrebuilds(dir, clone),
      // Any free port, read from the server's own line: a port picked here and left free during
      // the minute of `npm install` was taken by another test's server, which then answered
      // /healthz in this one's place (CI, 2026-12-01: "ok" and no credentials printed).
      REKEY_PORT: '0',
      REKEY_DATA: data,
      REKEY_HOST: '',
      REKEY_DATABASE_URL: '',
      REKEY_SECRET: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  t.after(() => {
    if (!ended) process.kill(-child.pid!, 'SIGKILL');
    // A failed run must end: a grandchild that left the group would hold these pipes open
    // (CI, 2026-12-01: the file ran on to its 900 s limit after failing at 46 s).
    child.stdout!.destroy();
    child.stderr!.destroy();
  });

  // Generous: where no prebuilt better-sqlite3 can be downloaded it compiles SQLite from source,
  // which takes many minutes on a busy 2-core machine.
  const deadline = Date.now() + 1_700_000;
  let port: string | undefined;
  while (Date.now() < deadline && !ended && port === undefined) {
    port = /rekey server listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(stdout)?.[1];
    if (port === undefined) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.ok(port !== undefined, `the server printed where it listens\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  const health: unknown = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).then((response) => response.json());
  assert.deepEqual(health, { status: 'ok', store: 'sqlite' });
  assert.match(stdout, /admin email:\s+\S+@\S+/);
  assert.match(stdout, /admin password:\s+\S{12,}/);
  assert.match(stdout, /API key:\s+[0-9a-f]{32}\s+\(id /);
  assert.match(stdout, /application key:\s+[0-9a-f]{40}/);
  assert.equal(stdout.match(/admin password:/g)!.length, 1, 'the credentials are printed once');
  assert.ok(existsSync(join(data, 'secret.key')), 'REKEY_DATA was used (secret.key in it)');
  assert.equal(existsSync(join(clone, 'data')), false, 'nothing was written to ./data of the clone');
  // The web UI answers too.
  const home = await fetch(`http://127.0.0.1:${port}/login`, { signal: AbortSignal.timeout(5000) });
  assert.equal(home.status, 200);

  // SIGTERM to the whole tree, as a service manager or a terminal would: the shell and npm end
  // at once, the server after its graceful shutdown (bounded at 10 s by the server itself).
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 200 && groupAlive(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  const stillAlive = groupAlive();
  if (stillAlive) process.kill(-child.pid!, 'SIGKILL');
  assert.equal(stillAlive, false, 'every process of `npm start` ended within 20 s of SIGTERM');
  const refused = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    () => false,
    () => true,
  );
  assert.ok(refused, 'the server is gone after SIGTERM');

  // `npm test` is the test runner with the static checks (layout, typecheck, lint: scripts/check.mjs) beside the files; the runner works in the clone.
  const testScript = execFileSync('npm', ['pkg', 'get', 'scripts.test'], { cwd: clone, encoding: 'utf8' }).trim();
  assert.equal(JSON.parse(testScript), 'node scripts/run-tests.mjs --checks');
  // Without this test runner's NODE_TEST_CONTEXT, which would make the nested runner report to us instead of printing TAP.
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  const suite = await run([process.execPath, 'scripts/run-tests.mjs', 'test/ship/error-docs'], { cwd: clone, env, timeoutMs: 120_000 });
  assert.equal(suite.code, 0, suite.stdout + suite.stderr);
  assert.match(suite.stdout, /# pass [1-9]/);
  assert.match(suite.stdout, /# fail 0/);
  // …and so does a PostgreSQL suite for a user without a PostgreSQL of their own: the embedded
  // server starts from inside the 0700 clone and every one of its tests is reported.
  delete env['REKEY_TEST_DATABASE_URL'];
  const postgresSuite = await run([process.execPath, 'scripts/run-tests.mjs', 'test/store/no-plaintext'], { cwd: clone, env, timeoutMs: 300_000 });
  assert.equal(postgresSuite.code, 0, postgresSuite.stdout + postgresSuite.stderr);
  assert.match(postgresSuite.stdout, /# pass 2\n/);
  assert.match(postgresSuite.stdout, /ok \d+ - no plaintext keys on postgres/);
});
