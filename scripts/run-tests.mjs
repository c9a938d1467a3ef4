#!/usr/bin/env node
// Runs every test file (src/**/*.test.ts and test/**/*.test.ts), each in its own Node process
// with Node's own test runner, several files at a time.
//
// Why not one `node --test --test-concurrency=N …`: a file's output would interleave with the
// others', and a file that must have the machine to itself (a benchmark-like timing assertion,
// a full disk of its own) could not say so. Here each file's TAP output is printed whole when it
// ends, with its wall and CPU time; files named in WAITING (little CPU, long waits) run in a
// lane of their own beside the others; files named in EXCLUSIVE run after the others, one at a
// time; and the totals at the end have the shape of node's own summary (`# tests N`, …).
//
// Files share nothing that would make parallel runs interfere: each takes free ports, its own
// temp directories and tmpfs mounts, its own PostgreSQL database (or embedded server); apt-get
// waits for the dpkg lock.
//
// Usage: node scripts/run-tests.mjs [--checks] [path-substring ...]   (filters the files to run)
// --checks: also runs the static checks (scripts/check.mjs: layout, typecheck, lint) as one more
// job beside the test files, counted as a failed file when it fails — `npm test` does. Run first
// and alone they held the whole machine for ~80 s while the test files, which mostly wait (in a
// run on the 2-core machine: 450 CPU seconds over 1,173 file-seconds), would have left a core idle.
// REKEY_TEST_CONCURRENCY: files at a time besides the WAITING lane (default 3 on the 2-core CI
// machine: a file uses 0.38 of a core on average — 450 CPU seconds over 1,173 file-seconds in a
// run on 2026-12-01 — so two at a time left most of a core idle).
// REKEY_TEST_FILE_TIMEOUT_S: a file still running after this many seconds (default 900) is
// stopped (SIGTERM, then SIGKILL 10 s later) and counted as failed with what it printed — one
// hung file (a handle left open after a failure) must not hold CI past its limit. The longest
// file took 483 s at load 10–13 on the 2-core machine, 180–240 s otherwise.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;

/**
 * Files that run alone, after the rest, because what they assert is timing that another file's
 * load would distort (each with its reason).
 */
const EXCLUSIVE = new Map([
  ['test/intake/multi-node-revocation.test.ts', 'asserts revocation reaches every node within a latency bound'],
  ['test/ship/bench-runner.test.ts', 'runs the benchmarks, whose rounds compare timings'],
]);

/**
 * Files that mostly wait — on an outage, an agent's 10 s flushes, a timeout — and use little CPU:
 * they run one after another in a lane of their own beside the `concurrency` lanes, so their
 * waiting does not hold a core's lane. Measured in a CI run (2026-11-30, otherwise idle 2-core
 * machine): wall and CPU seconds, each with what it waits for.
 */
const WAITING = new Map([
  ['test/agent/crash-and-outage.test.ts', '79.9 s wall, 4.8 s CPU: a 60 s intake outage, 12 s of DogStatsD buckets'],
  ['test/faults/agent-run-path.test.ts', '39.6 s wall, 3.7 s CPU: agents flushing every 10 s'],
  ['test/agent/open-buckets-file.test.ts', '30.1 s wall, 4.3 s CPU: buckets closing every 10 s'],
  ['test/agent/rotation-no-loss.test.ts', '28.1 s wall, 2.7 s CPU: agents flushing through a rotation'],
  ['test/agent/graceful-restart.test.ts', '19.9 s wall, 2.6 s CPU: an agent draining on SIGTERM'],
  ['test/server/request-timeouts.test.ts', '35.2 s wall, 2.3 s CPU (2026-12-01): the default 10 s / 30 s request deadlines, for real'],
]);

/** Long files first, so the last minutes are not one long file running alone. */
const SLOW_FIRST = [
  'test/ship/fresh-clone.test.ts',
  'test/rotate/command-ansible.e2e.test.ts',
  'test/ui/ui-browser.test.ts',
  'test/store/store-contract.test.ts',
  'test/rotate/ssh-transport.e2e.test.ts',
  'test/agent/rotation-no-loss.test.ts',
  'test/agent/crash-and-outage.test.ts',
  'test/server/intake-journal-crash.test.ts',
  // 60–93 s each (2026-12-02); late in the alphabet, store-races ran last, alone, for most of a minute.
  'test/intake/intake-fuzz.test.ts',
  'test/store/store-races.test.ts',
];

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) found.push(...findTests(full));
    else if (name.endsWith('.test.ts')) found.push(relative(root, full));
  }
  return found;
}

const withChecks = process.argv.includes('--checks');
const filters = process.argv.slice(2).filter((arg) => arg !== '--checks');
const files = ['src', 'test']
  .flatMap((dir) => findTests(join(root, dir)))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

function rank(file) {
  const slow = SLOW_FIRST.indexOf(file);
  return slow === -1 ? SLOW_FIRST.length : slow;
}

if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(2);
}

const concurrency = Math.max(1, Number(process.env.REKEY_TEST_CONCURRENCY ?? '3') || 1);
// At most setTimeout's 2^31 - 1 ms (24.8 days): a longer delay fires at once (Node's
// TimeoutOverflowWarning), so a large value meant as "no timeout" failed every file in 1 ms.
const fileTimeoutMs = Math.min(Math.max(1, Number(process.env.REKEY_TEST_FILE_TIMEOUT_S ?? '900') || 900) * 1000, 2 ** 31 - 1);
const COUNTERS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const totals = Object.fromEntries(COUNTERS.map((name) => [name, 0]));
const failedFiles = [];
const timings = [];
const started = Date.now();
let cpuBefore = childrenCpuSeconds();

/**
 * CPU seconds used by this runner's finished children (/proc/self/stat cutime + cstime): the
 * difference across one child's exit is what that file (and every process it started and
 * waited for) cost, so the report shows which files use the CPU and which mostly wait.
 * Linux only; elsewhere null.
 */
function childrenCpuSeconds() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // cutime, cstime (fields 16, 17) in USER_HZ ticks
  } catch {
    return null;
  }
}

/** Runs one test file in its own process. */
function runFile(file) {
  // The file is the process (no `--test`): node's runner would start a second process for
  // it, loading tsx twice — 0.3 s of CPU per file, a minute over the suite.
  return runJob(file, ['--import', 'tsx', '--test-reporter=tap', file]);
}

/** Runs `node args…` as one job named `file`; prints its output whole when it ends. */
function runJob(file, args) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      out.push(Buffer.from(`\n# run-tests: ${file} still running after ${fileTimeoutMs / 1000} s: stopped (REKEY_TEST_FILE_TIMEOUT_S)\n`));
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, fileTimeoutMs);
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => out.push(chunk));
    child.on('exit', () => {
      // Read at the exit itself, before another child can be reaped: this file's CPU time.
      const cpuNow = childrenCpuSeconds();
      child.cpuSeconds = cpuNow === null || cpuBefore === null ? null : cpuNow - cpuBefore;
      cpuBefore = cpuNow;
      // A process the file started and left behind may still hold its stdout/stderr, and 'close'
      // waits for every holder: after 10 s the runner stops reading, so the run goes on.
      setTimeout(() => {
        if (child.stdout.destroyed && child.stderr.destroyed) return;
        out.push(Buffer.from(`\n# run-tests: ${file} exited, but a process it started still holds its output: no longer read\n`));
        child.stdout.destroy();
        child.stderr.destroy();
      }, 10_000).unref();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      const text = Buffer.concat(out).toString('utf8');
      const counts = {};
      for (const name of COUNTERS) {
        const match = text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'));
        counts[name] = match ? Number(match[1]) : 0;
        totals[name] += counts[name];
      }
      // The static checks print no TAP: their exit status is their result.
      const summarised = file === CHECKS || /^# tests \d+$/m.test(text);
      const ok = code === 0 && signal === null && summarised && !timedOut;
      if (!ok) {
        failedFiles.push(file);
        // A process that died before its summary (a crash, a signal) counts as a failed test.
        if (!summarised || counts.fail === 0) totals.fail += 1;
      }
      const cpu = child.cpuSeconds == null ? '' : `, ${child.cpuSeconds.toFixed(1)} s CPU`;
      timings.push([seconds, file, cpu]);
      process.stdout.write(`# ---- ${file} (${seconds.toFixed(1)} s${cpu}${ok ? '' : `, FAILED: ${timedOut ? 'timed out, ' : ''}exit ${signal ?? code}`})\n`);
      // Per-file summaries are left out: the totals at the end are the run's summary.
      process.stdout.write(text.replace(new RegExp(`^# (${COUNTERS.join('|')}|duration_ms) .*\\n`, 'gm'), ''));
      resolve();
    });
  });
}

async function pool(list, size) {
  const queue = [...list];
  await Promise.all(
    Array.from({ length: Math.min(size, queue.length) }, async () => {
      while (queue.length > 0) await runFile(queue.shift());
    }),
  );
}

const shared = files.filter((file) => !EXCLUSIVE.has(file) && !WAITING.has(file));
const waiting = files.filter((file) => WAITING.has(file));
const alone = files.filter((file) => EXCLUSIVE.has(file));
const CHECKS = 'scripts/check.mjs (layout, typecheck, lint)';
await Promise.all([pool(shared, concurrency), pool(waiting, 1), withChecks ? runJob(CHECKS, [join(root, 'scripts/check.mjs')]) : Promise.resolve()]);
for (const file of alone) {
  process.stdout.write(`# ${file} runs alone: ${EXCLUSIVE.get(file)}\n`);
  await runFile(file);
}

const wall = (Date.now() - started) / 1000;
process.stdout.write('# slowest files:\n');
for (const [seconds, file, cpu] of timings.sort((a, b) => b[0] - a[0]).slice(0, 10))
  process.stdout.write(`#   ${seconds.toFixed(1).padStart(7)} s  ${file}${cpu ? ` (${cpu.slice(2)})` : ''}\n`);
if (failedFiles.length > 0) process.stdout.write(`# failed files:\n${failedFiles.map((f) => `#   ${f}\n`).join('')}`);
for (const name of COUNTERS) process.stdout.write(`# ${name} ${totals[name]}\n`);
process.stdout.write(
  `# files ${files.length} (${concurrency} at a time, and ${waiting.length} that mostly wait in a lane of their own)${withChecks ? ', and the static checks beside them' : ''}\n# duration_ms ${Math.round(wall * 1000)}\n`,
);
process.exit(failedFiles.length > 0 ? 1 : 0);
