/**
 * `npm run demo` as a user runs it (a real process, not a TTY so it does not wait at the
 * end): it must exit 0 after a complete rotation with every DogStatsD count stored, and
 * leave nothing behind. Its wall time is printed, not asserted (the 60 s goal depends on
 * the machine; see bench/ for measured goals). Ctrl-C (SIGINT) mid-way stops every child
 * and removes the temporary folder. The `--relay` variant must exit 0 with the upstream key
 * replaced, the old one refused upstream, every acknowledged count stored upstream and no agent
 * touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { repoRoot } from '../support/processes.js';

/** PIDs of live processes whose command line mentions `text` (the demo's temporary folder). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function runDemo(args: string[], onOutput?: (output: string, child: ReturnType<typeof spawn>) => void) {
  // Its own process group, like a job in a terminal: Ctrl-C is a SIGINT to the whole group.
  const child = spawn('npm', ['run', '--silent', 'demo', '--', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    onOutput?.(output, child);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 170_000);
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    }),
  );
}

test('npm run demo rotates the key on three agents and loses zero points', { timeout: 180_000 }, async () => {
  const started = Date.now();
  const { code, output } = await runDemo(['--no-wait']);
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`# npm run demo took ${seconds.toFixed(1)} s (goal < 60 s)\n`);
  assert.equal(code, 0, output);
  const sent = /points sent: (\d+), stored: (\d+), 0 lost$/m.exec(output);
  assert.ok(sent, `the demo reports zero lost points:\n${output}`);
  assert.ok(Number(sent[1]) > 0, 'the DogStatsD client really sent counts');
  assert.equal(sent[1], sent[2]);
  assert.match(output, /3\/3 hosts verified on the new key; 1\/1 old keys revoked/);
  assert.match(output, /Key page \(chart of the rotation\): http:\/\/127\.0\.0\.1:\d+\/keys\/[0-9a-f-]+$/m);
  const root = /Temporary folder: (\S+)/.exec(output)![1]!;
  assert.equal(existsSync(root), false, 'the temporary folder is removed');
  assert.deepEqual(processesMentioning(root), [], 'no server or agent outlives the demo');
});

test('npm run demo -- --relay rotates the upstream key while agents send through the relay: none touched, nothing lost', { timeout: 180_000 }, async () => {
  const started = Date.now();
  const { code, output } = await runDemo(['--relay', '--no-wait']);
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`# npm run demo -- --relay took ${seconds.toFixed(1)} s\n`);
  assert.equal(code, 0, output);
  assert.match(output, /4\/4 revoked the old upstream key/);
  const keys = /ok {3}upstream key before …(\w{4}), after …(\w{4})$/m.exec(output);
  assert.ok(keys, `the demo reports the upstream key before and after:\n${output}`);
  assert.notEqual(keys[1], keys[2]);
  assert.match(output, new RegExp(`ok {3}old upstream key …${keys[1]} at "Datadog": 403 \\(refused: revoked\\)$`, 'm'));
  const points = /ok {3}points acknowledged by the relay: (\d+), stored upstream: (\d+)$/m.exec(output);
  assert.ok(points, `the demo reports acknowledged vs stored:\n${output}`);
  assert.ok(Number(points[1]) > 0, 'the agents really sent counts through the relay');
  assert.equal(points[1], points[2]);
  assert.match(output, /ok {3}agents touched: 0$/m);
  assert.doesNotMatch(output, /FAIL/);
  const root = /Temporary folder: (\S+)/.exec(output)![1]!;
  assert.equal(existsSync(root), false, 'the temporary folder is removed');
  assert.deepEqual(processesMentioning(root), [], 'no server or agent outlives the demo');
});

test('Ctrl-C (SIGINT) during the demo stops every child and removes the temporary folder', { timeout: 180_000 }, async () => {
  let root: string | undefined;
  let sentSigint = false;
  let childrenAtSigint: number[] = [];
  const { code, output } = await runDemo(['--no-wait'], (text, child) => {
    root ??= /Temporary folder: (\S+)/.exec(text)?.[1];
    // Interrupt once agents are starting: the server is up and agents are being spawned.
    if (!sentSigint && root && /Starting 3 rekey-agents/.test(text)) {
      sentSigint = true;
      setTimeout(() => {
        childrenAtSigint = processesMentioning(root!);
        // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
        process.kill(-child.pid!, 'SIGINT');
      }, 1500);
    }
  });
  assert.ok(sentSigint, `the demo got as far as starting agents:\n${output}`);
  assert.ok(childrenAtSigint.length > 0, 'the server was running when SIGINT was sent');
  assert.notEqual(code, 0);
  assert.match(output, /SIGINT: stopping the server and the agents/);
  // Bounded wait for the last children to finish exiting after the demo itself ended.
  for (let i = 0; i < 50 && processesMentioning(root!).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(processesMentioning(root!), [], 'no child outlives Ctrl-C');
  assert.equal(existsSync(root!), false, 'the temporary folder is removed');
});
