/**
 * The DogStatsD UDP listener. Bound to 127.0.0.1 unless `dogstatsd_non_local_traffic` is
 * set (then 0.0.0.0), like the Datadog Agent.
 *
 * Per packet it only parses and aggregates in memory: no I/O and no await, because at 20,000
 * packets/s any per-packet await would drop packets. A line's name, type and tags are parsed
 * once per distinct line shape (DogStatsDShapes); per packet only the value is.
 * The kernel receive buffer is raised (`recvBufferSize`, `dogstatsd_so_rcvbuf`) so bursts
 * survive a GC pause; the kernel caps it at net.core.rmem_max. What still overflows it is
 * dropped by the kernel before the agent sees it: on Linux `kernelDrops` reads that count
 * (the `drops` column of /proc/net/udp and /proc/net/udp6 for this socket's inode), so UDP
 * loss shows in `rekey-agent status` instead of being invisible.
 */
import dgram from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { DogStatsDAggregator } from './dogstatsd-aggregator.js';
import { parseDogStatsDLine, parseDogStatsDValues, type ParsedLine } from './dogstatsd-parser.js';
import { DogStatsDShapes } from './dogstatsd-shapes.js';
import { PendingEvents } from './pending-events.js';

export interface DogStatsDCounters {
  packets: number;
  metrics: number;
  malformed: number;
  /** Lines neither metric, event, service check nor malformed (none today; kept for the status shape). */
  skipped: number;
  /** Events (`_e{…}`) received, forwarded to `/intake/`. */
  events: number;
  /** Service checks (`_sc|…`) received, forwarded to `/api/v1/check_run`. */
  serviceChecks: number;
}

export const DEFAULT_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

export class DogStatsDServer {
  readonly counters: DogStatsDCounters = { packets: 0, metrics: 0, malformed: 0, skipped: 0, events: 0, serviceChecks: 0 };
  private socket: dgram.Socket | null = null;
  private lastMalformed: string | null = null;
  private readonly shapes: DogStatsDShapes;
  /** The socket's inode (Linux), found once after binding; null when unknown. */
  private inode: string | null = null;

  constructor(
    private readonly aggregator: DogStatsDAggregator,
    /** Where events and service checks wait for the next flush. */
    readonly pending = new PendingEvents(),
  ) {
    this.shapes = new DogStatsDShapes((shape) => aggregator.contextKey(shape));
  }

  /** Binds and resolves with the bound port (useful with port 0 in tests). */
  listen(port: number, nonLocal: boolean, recvBufferSize = DEFAULT_RECV_BUFFER_BYTES): Promise<number> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize });
    this.socket = socket;
    socket.on('message', (message) => this.handle(message));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, nonLocal ? '0.0.0.0' : '127.0.0.1', () => {
        socket.off('error', reject);
        // A receive error after binding must not crash the agent.
        socket.on('error', () => undefined);
        const bound = socket.address().port;
        this.inode = findUdpInode(bound);
        resolve(bound);
      });
    });
  }

  /** Parses one datagram received at `now`; never throws (malformed lines are counted). */
  handle(message: Buffer, now = Date.now()): void {
    this.counters.packets++;
    const text = message.toString('utf8');
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length === 0) continue;
      this.handleLine(line, now);
    }
  }

  private handleLine(line: string, now: number): void {
    const colon = line.indexOf(':');
    const bar = colon > 0 ? line.indexOf('|', colon + 1) : -1;
    const shape = bar > 0 ? this.shapes.get(line, colon, bar) : null;
    if (shape === null) {
      // Not `name:value|…`: an event, a service check or a malformed line.
      this.count(parseDogStatsDLine(line, Math.floor(now / 1000)), now);
      return;
    }
    if (typeof shape === 'string') return this.malformed(shape);
    const rawValue = line.slice(colon + 1, bar);
    const values = parseDogStatsDValues(rawValue, shape.type);
    if (typeof values === 'string') return this.malformed(values);
    this.counters.metrics++;
    this.aggregator.addValues(shape.key, shape, values, shape.type === 's' ? rawValue : '', now);
  }

  private count(parsed: ParsedLine, now: number): void {
    if (parsed.kind === 'sample') {
      this.counters.metrics++;
      this.aggregator.add(parsed.sample, now);
    } else if (parsed.kind === 'event') {
      this.counters.events++;
      this.pending.addEvent(parsed.event);
    } else if (parsed.kind === 'serviceCheck') {
      this.counters.serviceChecks++;
      this.pending.addServiceCheck(parsed.check);
    } else if (parsed.kind === 'malformed') {
      this.malformed(parsed.reason);
    } else {
      this.counters.skipped++;
    }
  }

  private malformed(reason: string): void {
    this.counters.malformed++;
    this.lastMalformed = reason;
  }

  get lastMalformedReason(): string | null {
    return this.lastMalformed;
  }

  /** The kernel's actual receive buffer (it may be capped below what was asked). */
  get recvBufferSize(): number | null {
    try {
      return this.socket?.getRecvBufferSize() ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Datagrams the kernel dropped because the receive buffer was full, since the socket was
   * opened; null where /proc/net/udp is not available (not Linux) or the socket is not found.
   */
  get kernelDrops(): number | null {
    if (this.inode === null || this.socket === null) return null;
    for (const table of UDP_TABLES) {
      const row = readUdpTable(table).find((r) => r.inode === this.inode);
      if (row !== undefined) return row.drops;
    }
    return null;
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}

const UDP_TABLES = ['/proc/net/udp', '/proc/net/udp6'];

interface UdpRow {
  localPort: number;
  inode: string;
  drops: number;
}

/**
 * Rows of /proc/net/udp(6): `sl local_address rem_address st tx_queue:rx_queue tr:tm->when
 * retrnsmt uid timeout inode ref pointer drops`, addresses as HEXIP:HEXPORT.
 */
function readUdpTable(path: string): UdpRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const rows: UdpRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13) continue;
    const port = parseInt(fields[1]!.split(':')[1] ?? '', 16);
    rows.push({ localPort: port, inode: fields[9]!, drops: Number(fields[12]) });
  }
  return rows;
}

/** This process's socket inodes, from the `socket:[N]` links in /proc/self/fd. */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The inode of this process's UDP socket bound to `port`, or null. */
function findUdpInode(port: number): string | null {
  const own = ownSocketInodes();
  for (const table of UDP_TABLES) {
    for (const row of readUdpTable(table)) if (row.localPort === port && own.has(row.inode)) return row.inode;
  }
  return null;
}
