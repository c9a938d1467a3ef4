/**
 * The ways a rotation must NOT finish, with real processes (rekey server, rekey-agent, the rekey
 * CLI): a host outside the inventory still on the old key blocks the revoke; a host whose agent
 * never comes back is rolled back to its backup and reported; a rotate killed with SIGKILL
 * mid-run finishes with --resume and exactly one new key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rekeyCommand, repoRoot, runRekey } from '../support/processes.js';
import { api, startFleetAgent, startServer, stopFleetAgent, until, writeInventory, type FleetAgent, type ServerProcess } from './support/fleet.js';

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, names: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-rotate-fail-'));
  const server = await startServer(join(dir, 'data'));
  t.after(() => server.stop());
  const agents: FleetAgent[] = [];
  t.after(async () => {
    for (const agent of agents) await stopFleetAgent(agent, 'SIGKILL').catch(() => undefined);
  });
  for (const name of names) agents.push(await startFleetAgent(dir, name, server.url, server.apiKey.key));
  await until(
    async () => (await api(server, `/api/v2/api_keys/${server.apiKey.id}/hosts`)).body.data.length === names.length,
    60_000,
    'every host on the old key',
  );
  const env = { ...process.env, DD_API_KEY: server.apiKey.key, DD_APP_KEY: server.appKey };
  return { dir, server, agents, env, inventory: join(dir, 'inventory.yaml') };
}

async function oldKeyStatus(server: ServerProcess): Promise<string> {
  const response = await api(server, `/api/v2/api_keys/${server.apiKey.id}`);
  assert.equal(response.status, 200, 'the old key still authenticates');
  return response.body.data.attributes.status;
}

test('a host missing from the inventory but still on the old key blocks the revoke (exit 1)', { timeout: 180_000 }, async (t) => {
  const { server, agents, env, inventory } = await setup(t, ['inv-1', 'inv-2', 'forgotten-box']);
  writeInventory(
    inventory,
    agents.slice(0, 2).map((a) => ({ name: a.name, transport: 'local', config: a.config, restart: `sighup:${a.pidFile}` })),
  );
  const dry = await runRekey(['rotate', '--inventory', inventory, '--url', server.url, '--dry-run'], { env });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /Hosts NOT in the inventory that used an old key recently:\n\s+HOST.*\n\s+forgotten-box/);
  const result = await runRekey(['rotate', '--inventory', inventory, '--url', server.url, '--json', '--verify-timeout', '45s'], { env, timeoutMs: 120_000 });
  assert.equal(result.code, 1, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.deepEqual(
    report.hosts.map((h: { state: string }) => h.state),
    ['verified', 'verified'],
  );
  assert.deepEqual(
    report.unknown_hosts.map((h: { host: string }) => h.host),
    ['forgotten-box'],
  );
  assert.deepEqual(
    report.stragglers.map((s: { host: string }) => s.host),
    ['forgotten-box'],
  );
  assert.deepEqual(
    report.old_keys.map((k: { revoked: boolean }) => k.revoked),
    [false],
  );
  assert.equal(await oldKeyStatus(server), 'active');
  // The human report names the straggler too.
  const again = await runRekey(['rotate', '--inventory', inventory, '--url', server.url, '--resume'], { env, timeoutMs: 120_000 });
  assert.equal(again.code, 1);
  assert.match(again.stdout, /Stragglers \(the old key stays active until they are on the new key\):[\s\S]*forgotten-box/);
});

test('a host whose agent never comes back is rolled back to its backup and reported; the old key stays', { timeout: 180_000 }, async (t) => {
  const { server, agents, env, inventory } = await setup(t, ['ok-host', 'dying-host']);
  const [ok, dying] = agents as [FleetAgent, FleetAgent];
  const original = readFileSync(dying.config);
  // The dying agent hangs before the rotation (SIGSTOP): a running rekey-agent watches its config
  // directory and would send with the new key as soon as it was deployed — before its "restart"
  // kills it — and so be verified. A stopped one sees nothing; SIGKILL still ends it.
  process.kill(dying.process.child.pid!, 'SIGSTOP');
  writeInventory(inventory, [
    { name: ok.name, transport: 'local', config: ok.config, restart: `sighup:${ok.pidFile}` },
    // Its "restart" kills the agent for good.
    { name: dying.name, transport: 'local', config: dying.config, restart: { command: ['sh', '-c', `kill -9 "$(cat '${dying.pidFile}')"`] } },
  ]);
  const result = await runRekey(['rotate', '--inventory', inventory, '--url', server.url, '--json', '--verify-timeout', '8s'], { env, timeoutMs: 120_000 });
  assert.equal(result.code, 1, result.stderr);
  const report = JSON.parse(result.stdout);
  const [okReport, dyingReport] = report.hosts;
  assert.equal(okReport.state, 'verified');
  assert.equal(dyingReport.state, 'rolled_back');
  assert.match(dyingReport.error, /not seen with the new key before the verify timeout; rolled back to the previous config, but restarting the agent failed: /);
  assert.deepEqual(readFileSync(dying.config), original, 'config restored from the backup, byte for byte');
  assert.ok(existsSync(dyingReport.backup));
  assert.deepEqual(
    report.stragglers.map((s: { host: string }) => s.host),
    ['dying-host'],
  );
  assert.equal(await oldKeyStatus(server), 'active');
  assert.match(result.stderr, /dying-host: rolled back/);
});

test('rotate killed with SIGKILL mid-run; --resume finishes with exactly one new key, finished hosts untouched', { timeout: 240_000 }, async (t) => {
  const { dir, server, agents, env, inventory } = await setup(t, ['r-1', 'r-2', 'r-3', 'r-4']);
  writeInventory(
    inventory,
    agents.map((a) => ({
      name: a.name,
      transport: 'local',
      config: a.config,
      restart: { command: ['sh', '-c', `sleep 1.5; kill -HUP "$(cat '${a.pidFile}')"`] },
    })),
  );
  const journalPath = join(dir, '.rekey-rotate.journal.json');
  const [node, ...prefix] = rekeyCommand;
  const child = spawn(node!, [...prefix, 'rotate', '--inventory', inventory, '--url', server.url, '--concurrency', '1'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const journal = () => (existsSync(journalPath) ? JSON.parse(readFileSync(journalPath, 'utf8')) : undefined);
  await until(
    () => {
      const states = Object.values(journal()?.hosts ?? {}).map((h) => (h as { state: string }).state);
      return states.includes('verified') && states.includes('pending');
    },
    90_000,
    'one host verified while others are pending',
  );
  child.kill('SIGKILL');
  await exited;
  const before = journal();
  const finished = Object.entries(before.hosts)
    .filter(([, h]) => (h as { state: string }).state === 'verified')
    .map(([name]) => name);
  assert.ok(before.new_key.key, 'the journal of an unfinished rotation holds the key');
  const attemptsBefore = Object.fromEntries(Object.entries(before.hosts).map(([n, h]) => [n, (h as { attempts: number }).attempts]));

  const plain = await runRekey(['rotate', '--inventory', inventory, '--url', server.url], { env });
  assert.equal(plain.code, 2, 'a second rotation refuses to start over an unfinished one');
  assert.match(plain.stderr, /already in progress.*--resume/);

  const resumed = await runRekey(['rotate', '--inventory', inventory, '--url', server.url, '--resume', '--json'], { env, timeoutMs: 180_000 });
  assert.equal(resumed.code, 0, resumed.stderr);
  const report = JSON.parse(resumed.stdout);
  assert.equal(report.new_key.id, before.new_key.id, 'the same key was deployed');
  assert.ok(report.hosts.every((h: { state: string }) => h.state === 'verified'));
  const after = journal();
  for (const name of finished) assert.equal(after.hosts[name].attempts, attemptsBefore[name], `${name} was not touched again`);
  assert.ok(!report.notes.some((n: string) => n.includes('interrupted run')), 'no orphan key');
  const newKey = before.new_key.key as string;
  const keys = await api(server, '/api/v2/api_keys?page[size]=100', { apiKey: newKey });
  const active = keys.body.data.filter((k: { attributes: { status?: string } }) => (k.attributes.status ?? 'active') === 'active');
  assert.deepEqual(
    active.map((k: { id: string }) => k.id),
    [before.new_key.id],
    'exactly one active key: the new one',
  );
  assert.equal(
    keys.body.data.filter((k: { attributes: { name: string } }) => k.attributes.name.startsWith('rekey-rotate ')).length,
    1,
    'exactly one key created',
  );
  assert.equal((await api(server, `/api/v2/api_keys/${server.apiKey.id}`, { apiKey: newKey })).body.data.attributes.status, 'revoked');
  assert.equal(after.new_key.key, undefined, 'the key is gone from the completed journal');
});
