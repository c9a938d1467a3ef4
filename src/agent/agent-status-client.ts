/**
 * Reads a running agent's status (for `rekey-agent status` and tests) and formats it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rekeyError } from '../errors.js';
import { STATUS_PORT_FILE, type AgentStatus } from './status-server.js';

export async function fetchAgentStatus(runPath: string, timeoutMs = 3000): Promise<AgentStatus> {
  const text = await readFile(join(runPath, STATUS_PORT_FILE), 'utf8').catch(() => null);
  const port = text === null ? NaN : Number(text.trim());
  if (!Number.isInteger(port) || port <= 0) throw rekeyError('AGENT_NOT_RUNNING', { runPath, detail: `no ${STATUS_PORT_FILE} file` });
  try {
    const response = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`status endpoint answered ${response.status}`);
    return (await response.json()) as AgentStatus;
  } catch (error) {
    throw rekeyError('AGENT_NOT_RUNNING', { runPath, detail: `127.0.0.1:${port} did not answer: ${(error as Error).message}` }, { cause: error });
  }
}

export function formatAgentStatus(status: AgentStatus): string {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const state: Record<string, string> = {
    accepted: 'accepted by the intake',
    rejected: 'REJECTED by the intake (403): change api_key; payloads are kept on disk',
    unknown: 'not yet checked',
    missing: 'no api_key configured',
  };
  const d = status.components.dogstatsd;
  const q = status.queue;
  const l = status.components.series;
  const lines = [
    `rekey-agent ${status.version} (pid ${status.pid}), host ${status.hostname}`,
    `config:      ${status.config.file ?? 'DD_* environment'} (${status.config.format})${status.config.lastReloadError ? `; last reload failed: ${status.config.lastReloadError}` : ''}`,
    `api key:     ...${status.apiKey.last4 ?? '????'} from ${status.apiKey.source}: ${state[status.apiKey.state] ?? status.apiKey.state}`,
    `intake:      ${status.intake.url}; last successful delivery ${status.intake.lastSuccessAt ?? 'never'}${status.intake.lastError ? `; last error: ${status.intake.lastError}` : ''}`,
    `last flush:  ${status.lastFlushAt ?? 'never'}`,
    // depth counts the payloads held only in memory too: say where they are.
    `queue:       ${q.depth} payloads waiting: ${q.depth - q.memoryDepth} on disk (${mb(q.bytes)}), ${q.memoryDepth} only in memory; dropped ${q.dropped} (queue over its size limit)`,
    `             memory buffer: ${mb(q.memoryBytes)} held because the run path refused the write (lost if the agent is killed); ${q.memoryDropped} dropped (memory buffer full); ${q.writeErrors} write errors${q.lastWriteError ? `; last: ${q.lastWriteError}` : ''}`,
    `dogstatsd:   port ${d.port}; ${d.received} packets, ${d.metrics} metrics, ${d.events} events, ${d.serviceChecks} service checks, ${d.errored} malformed, ${d.dropped} dropped (too many contexts or pending events), ${d.kernelDrops ?? 'unknown'} dropped by the kernel (receive buffer ${d.recvBufferBytes ?? '?'} bytes full)`,
    `series:      fixed for the intake's limits: ${l.seriesDropped} series and ${l.pointsDropped} points dropped, ${l.tagsTruncated} tags truncated, ${l.tagsDropped} tags dropped, ${l.hostsTruncated} hosts truncated${l.lastFix ? `; last: ${l.lastFix}` : ''}`,
  ];
  for (const destination of status.components.destinations) {
    lines.push(
      `  -> ${destination.id} ${destination.url}: sent ${destination.sent}, errored ${destination.errored}, dropped ${destination.dropped}, partly refused ${destination.partiallyRejected ?? 0}, queued ${destination.queued}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
