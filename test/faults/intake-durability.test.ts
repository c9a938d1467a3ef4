/**
 * `rekey server --durability process|power` (REKEY_DURABILITY), seen from outside with strace:
 * with `power` every acknowledged batch's journal append is fdatasync()ed before its 202, and
 * the acknowledged points survive a SIGKILL; with `process` (the default) the journal is never
 * synced; an unknown policy is a usage error (exit 2).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runRekey } from '../support/processes.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep, storedValues } from './fault-support.js';

const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, REKEY_DURABILITY: _durability, ...env } = process.env;
const now = Math.floor(Date.now() / 1000);

/** Runs strace on `pid` while `during` runs; returns the fdatasync/fsync calls on journal files. */
async function journalSyncs(pid: number, dir: string, during: () => Promise<void>): Promise<number> {
  const log = join(dir, `strace-${pid}.log`);
  const strace = spawn('strace', ['-f', '-y', '-e', 'trace=fdatasync,fsync', '-o', log, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let attached = '';
  strace.stderr.on('data', (chunk) => (attached += chunk));
  const deadline = Date.now() + 10_000;
  while (!/attached/i.test(attached) && Date.now() < deadline) await sleep(20);
  try {
    await during();
  } finally {
    strace.kill('SIGINT');
    await new Promise((resolve) => strace.once('exit', resolve));
  }
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => /(fdatasync|fsync)\(\d+<[^>]*\.journal>\) = 0/.test(line)).length;
}

async function post(server: ServerProcess, apiKey: string, values: number[]): Promise<void> {
  const response = await fetch(`${server.url}/api/v2/series`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'dd-api-key': apiKey },
    body: JSON.stringify({
      series: [
        {
          metric: 'durability.points',
          type: 3,
          points: values.map((v) => ({ timestamp: now - 1800 + v, value: v })),
          resources: [{ name: 'h', type: 'host' }],
        },
      ],
    }),
  });
  assert.equal(response.status, 202);
}

describe('rekey server --durability', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-durability-'));
    dirs.push(dir);
    return dir;
  };

  it('power: each acknowledged batch is fdatasync()ed before its 202, and survives a SIGKILL', async () => {
    const dir = tempDir();
    const server = await startServerProcess({
      args: ['--data', join(dir, 'data'), '--log-level', 'warn', '--durability', 'power'],
      env: { ...env, REKEY_INTAKE_SAVE_INTERVAL_MS: '3600000' },
    });
    servers.push(server);
    const apiKey = server.credentials!.apiKey!.key;
    const appKey = server.credentials!.appKey!;
    // One request at a time: each is its own batch, so each needs its own sync.
    const syncs = await journalSyncs(server.child.pid!, dir, async () => {
      for (let i = 0; i < 10; i++) await post(server, apiKey, [i * 10, i * 10 + 1]);
    });
    assert.ok(syncs >= 10, `${syncs} journal syncs for 10 sequential batches`);
    await server.stop('SIGKILL');
    const next = await startServerProcess({ args: ['--data', join(dir, 'data'), '--log-level', 'warn'], env });
    servers.push(next);
    const { values } = await storedValues(next.url, { apiKey, appKey }, 'durability.points', now - 7200, now);
    assert.equal(values.length, 20, 'every acknowledged point after the SIGKILL');
    await next.stop('SIGTERM');
  });

  it('process (the default): the journal is never synced', async () => {
    const dir = tempDir();
    const server = await startServerProcess({
      args: ['--data', join(dir, 'data'), '--log-level', 'warn'],
      env: { ...env, REKEY_INTAKE_SAVE_INTERVAL_MS: '3600000' },
    });
    servers.push(server);
    const apiKey = server.credentials!.apiKey!.key;
    const syncs = await journalSyncs(server.child.pid!, dir, async () => {
      for (let i = 0; i < 10; i++) await post(server, apiKey, [i]);
    });
    assert.equal(syncs, 0);
    await server.stop('SIGTERM');
  });

  it('refuses an unknown policy, from the flag or REKEY_DURABILITY (exit 2)', async () => {
    const dir = tempDir();
    const flag = await runRekey(['server', '--data', join(dir, 'a'), '--port', '0', '--durability', 'disk'], { env });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /durability "disk" must be process or power/);
    const fromEnv = await runRekey(['server', '--data', join(dir, 'b'), '--port', '0'], { env: { ...env, REKEY_DURABILITY: 'always' } });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /durability "always" must be process or power/);
  });
});
