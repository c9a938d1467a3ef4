import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { agentCommandLine } from './install-service.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';

const shebang = readFileSync(fileURLToPath(new URL('./main.ts', import.meta.url)), 'utf8').split('\n')[0]!;

test('the rekey-agent bin and the installed services run node with the same flags', () => {
  assert.equal(shebang, `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`);
  assert.ok(agentCommandLine().startsWith(`${process.execPath} ${AGENT_NODE_FLAGS.join(' ')} `), agentCommandLine());
  for (const template of ['systemd/rekey-agent.service', 'init.d/rekey-agent']) {
    const text = readFileSync(fileURLToPath(new URL(`../../packaging/${template}`, import.meta.url)), 'utf8');
    assert.match(text, /@AGENT_COMMAND@ run /, `${template} starts the agent with the filled-in command`);
  }
});

test('this node accepts the flags, and the shebang passes them through env -S', () => {
  const probe = 'process.stdout.write(JSON.stringify(process.execArgv))';
  const direct = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, '-e', probe], { encoding: 'utf8' });
  assert.equal(direct.status, 0, direct.stderr);
  assert.deepEqual(JSON.parse(direct.stdout), [...AGENT_NODE_FLAGS, '-e', probe]);

  const dir = mkdtempSync(join(tmpdir(), 'rekey-agent-shebang-'));
  try {
    const script = join(dir, 'probe.js');
    writeFileSync(script, `${shebang}\n${probe}\n`);
    chmodSync(script, 0o755);
    // The bin is found through PATH as npm links it; put this test's node first on it.
    const viaShebang = spawnSync(script, [], { encoding: 'utf8', env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` } });
    assert.equal(viaShebang.status, 0, viaShebang.stderr);
    assert.deepEqual(JSON.parse(viaShebang.stdout), AGENT_NODE_FLAGS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
