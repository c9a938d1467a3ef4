/**
 * The running agent's status, served on 127.0.0.1 only (never another interface) on a port
 * chosen by the kernel and written to `<run path>/status.port`, so several agents (and
 * tests) never collide. `rekey-agent status` reads that file and asks `GET /status`.
 * The status holds a key's last 4 characters at most.
 */
import { createServer, type Server } from 'node:http';
import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../config/atomic-write.js';
import { join } from 'node:path';
import type { DestinationStatus, KeyState } from './forwarder.js';
import type { SeriesLimitCounters } from './series-limits.js';

export const STATUS_PORT_FILE = 'status.port';

export interface AgentStatus {
  version: string;
  pid: number;
  startedAt: string;
  hostname: string;
  config: { file: string | null; format: string; lastReloadError: string | null };
  apiKey: { last4: string | null; source: string; state: KeyState };
  intake: { url: string; lastSuccessAt: string | null; lastError: string | null };
  lastFlushAt: string | null;
  queue: {
    depth: number;
    /** Bytes on disk. */
    bytes: number;
    dropped: number;
    corrupt: number;
    /** Payloads held in memory because the run path refused them (lost if the agent is killed). */
    memoryDepth: number;
    memoryBytes: number;
    /** Payloads dropped because the memory buffer was full. */
    memoryDropped: number;
    /** Failed writes to the run path (each payload was kept in memory). */
    writeErrors: number;
    lastWriteError: string | null;
  };
  components: {
    dogstatsd: {
      port: number;
      received: number;
      metrics: number;
      errored: number;
      skipped: number;
      /** DogStatsD events and service checks received (forwarded to `/intake/` and `/api/v1/check_run`). */
      events: number;
      serviceChecks: number;
      /** Contexts past the limit, and events or service checks past the pending limit. */
      dropped: number;
      recvBufferBytes: number | null;
      /** Datagrams the kernel dropped (receive buffer full) since the socket opened; null if unknown. */
      kernelDrops: number | null;
    };
    /** Fixes made so the intake accepts every series (series-limits.ts). */
    series: SeriesLimitCounters;
    queue: { received: number; errored: number; dropped: number };
    destinations: DestinationStatus[];
  };
  process: { rssBytes: number; heapUsedBytes: number };
}

export class StatusServer {
  private constructor(
    private readonly server: Server,
    private readonly portFile: string,
    readonly port: number,
  ) {}

  static async start(runPath: string, status: () => AgentStatus): Promise<StatusServer> {
    const server = createServer((request, response) => {
      if (request.method === 'GET' && request.url === '/status') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(status()));
      } else {
        response.writeHead(404, { 'Content-Type': 'application/json' });
        response.end('{"errors":["Not found"]}');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const portFile = join(runPath, STATUS_PORT_FILE);
    await writeFileAtomic(portFile, `${port}\n`, { mode: 0o644 });
    return new StatusServer(server, portFile, port);
  }

  async close(): Promise<void> {
    await unlink(this.portFile).catch(() => undefined);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
