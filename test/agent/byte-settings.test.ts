/** The agent's byte-size settings: `dogstatsd_so_rcvbuf` and `queue_memory_buffer_bytes`, file and DD_* variables. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentSettings } from '../../src/config/agent-settings.js';
import { removeDir, tempDir } from './support/agent-process.js';

test('dogstatsd_so_rcvbuf and queue_memory_buffer_bytes: file (v6 and v5), environment over file, invalid values name the line', async (t) => {
  const dir = await tempDir('rekey-agent-bytes-');
  t.after(() => removeDir(dir));
  const yaml = join(dir, 'datadog.yaml');
  await writeFile(yaml, 'hostname: h\ndogstatsd_so_rcvbuf: 65536\nqueue_memory_buffer_bytes: 1048576\n');
  const fromFile = loadAgentSettings({ file: yaml, env: {} });
  assert.equal(fromFile.dogstatsdSoRcvbuf, 65536);
  assert.equal(fromFile.queueMemoryBufferBytes, 1048576);
  const fromEnv = loadAgentSettings({ file: yaml, env: { DD_DOGSTATSD_SO_RCVBUF: '0', DD_QUEUE_MEMORY_BUFFER_BYTES: '2048' } });
  assert.equal(fromEnv.dogstatsdSoRcvbuf, 0);
  assert.equal(fromEnv.queueMemoryBufferBytes, 2048);
  const none = join(dir, 'none.yaml');
  await writeFile(none, 'hostname: h\n');
  assert.equal(loadAgentSettings({ file: none, env: {} }).dogstatsdSoRcvbuf, null);
  const v5 = join(dir, 'datadog.conf');
  await writeFile(v5, '[Main]\nhostname: h\ndogstatsd_so_rcvbuf: 8192\n');
  assert.equal(loadAgentSettings({ file: v5, env: {} }).dogstatsdSoRcvbuf, 8192);
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'hostname: h\nqueue_memory_buffer_bytes: 4MB\n');
  assert.throws(() => loadAgentSettings({ file: bad, env: {} }), /line 2.*queue_memory_buffer_bytes must be a whole number of bytes/s);
  assert.throws(() => loadAgentSettings({ file: none, env: { DD_DOGSTATSD_SO_RCVBUF: '-1' } }), /DD_DOGSTATSD_SO_RCVBUF: dogstatsd_so_rcvbuf must be/);
});
