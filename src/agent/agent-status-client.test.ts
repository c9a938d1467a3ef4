import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAgentStatus } from './agent-status-client.js';
import type { AgentStatus } from './status-server.js';

const status = (queue: Partial<AgentStatus['queue']>): AgentStatus => ({
  version: 'rekey-agent/test',
  pid: 1,
  startedAt: '2026-01-01T00:00:00.000Z',
  hostname: 'h',
  config: { file: null, format: 'env', lastReloadError: null },
  apiKey: { last4: 'abcd', source: 'file', state: 'accepted' },
  intake: { url: 'http://127.0.0.1:1', lastSuccessAt: null, lastError: null },
  lastFlushAt: null,
  queue: { depth: 0, bytes: 0, dropped: 0, corrupt: 0, memoryDepth: 0, memoryBytes: 0, memoryDropped: 0, writeErrors: 0, lastWriteError: null, ...queue },
  components: {
    dogstatsd: {
      port: 8125,
      received: 0,
      metrics: 0,
      errored: 0,
      skipped: 0,
      events: 0,
      serviceChecks: 0,
      dropped: 0,
      recvBufferBytes: null,
      kernelDrops: null,
    },
    series: { seriesDropped: 0, pointsDropped: 0, tagsTruncated: 0, tagsDropped: 0, hostsTruncated: 0, lastFix: null },
    queue: { received: 0, errored: 0, dropped: 0 },
    destinations: [],
  },
  process: { rssBytes: 0, heapUsedBytes: 0 },
});

test('the status text never counts payloads held only in memory as on disk', () => {
  // The run path refused every write: 24 payloads wait, all of them in memory.
  const text = formatAgentStatus(
    status({ depth: 24, bytes: 0, memoryDepth: 24, memoryBytes: 48_000, writeErrors: 30, lastWriteError: 'ENOSPC: no space left on device, write' }),
  );
  assert.match(text, /queue: +24 payloads waiting: 0 on disk \(0\.0 MB\), 24 only in memory/);
  assert.doesNotMatch(text, /24 payloads, 0\.0 MB on disk/);
  const mixed = formatAgentStatus(status({ depth: 10, bytes: 3 * 2 ** 20, memoryDepth: 4, memoryBytes: 2 ** 20 }));
  assert.match(mixed, /10 payloads waiting: 6 on disk \(3\.0 MB\), 4 only in memory/);
});
