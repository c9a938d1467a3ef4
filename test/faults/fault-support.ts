/**
 * Real faults for the fault-injection tests: a small tmpfs (bytes and inodes limited), filled
 * by bytes or by inodes and freed again; load that counts what the intake acknowledged; raw
 * idle connections that record any byte the server sends them unasked. Needs root (mount).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A tmpfs of `size` (e.g. '32m') and `inodes` inodes under a unique directory of os.tmpdir(). */
export function mountTmpfs(prefix: string, size: string, inodes: number): { dir: string; unmount(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},nr_inodes=${inodes},mode=0700`, 'tmpfs', dir]);
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      try {
        execFileSync('umount', [dir]);
      } catch {
        execFileSync('umount', ['-l', dir]); // a process still holds a file: detach now, freed when it closes
      }
      mounted = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system of `dir` with one file until ENOSPC; returns the file (delete it to free the space). */
export function fillBytes(dir: string): string {
  const file = join(dir, `filler-${process.pid}-${Date.now()}`);
  const fd = openSync(file, 'w');
  try {
    for (let chunk = 1 << 20; chunk >= 512;) {
      try {
        if (writeSync(fd, Buffer.alloc(chunk)) < chunk) chunk >>= 1;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        chunk >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Creates empty files in a new directory of `dir` until no inode is left; returns the directory (remove it to free them). */
export function fillInodes(dir: string): string {
  const holder = join(dir, `inode-filler-${process.pid}-${Date.now()}`);
  mkdirSync(holder);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(holder, String(i)), '');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return holder;
      throw error;
    }
  }
}

/** Posts `pointsPerPayload`-point payloads to `/api/v2/series` in `workers` loops and counts what was acknowledged. */
export class Poster {
  /** Values (one distinct value per point) answered 202. */
  readonly acknowledged = new Set<number>();
  readonly statuses = new Map<number, number>();
  /** Retry-After of every 503. */
  readonly retryAfter: Array<string | null> = [];
  /** Time of the last 202, and of the last 503. */
  last202 = 0;
  last503 = 0;
  private next = 0;
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly options: { url: string; apiKey: string; metric: string; baseTs: number; workers: number; pointsPerPayload: number }) {
    this.loops = Array.from({ length: options.workers }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const first = this.next;
      this.next += this.options.pointsPerPayload;
      const values = Array.from({ length: this.options.pointsPerPayload }, (_, i) => first + i);
      let status: number;
      try {
        const response = await fetch(`${this.options.url}/api/v2/series`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'dd-api-key': this.options.apiKey },
          body: JSON.stringify({
            series: [
              {
                metric: this.options.metric,
                type: 3,
                points: values.map((v) => ({ timestamp: this.options.baseTs + v, value: v })),
                resources: [{ name: 'fault-host', type: 'host' }],
              },
            ],
          }),
        });
        status = response.status;
        if (status === 503) this.retryAfter.push(response.headers.get('retry-after'));
        await response.arrayBuffer();
      } catch {
        status = 0; // connection error: not acknowledged
      }
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      if (status === 202) {
        for (const v of values) this.acknowledged.add(v);
        this.last202 = Date.now();
      } else if (status === 503) {
        this.last503 = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Stops the loops once every request in flight has its answer. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** The values stored for `metric` (each point's value is its own id), read through /api/v1/query. */
export async function storedValues(
  url: string,
  keys: { apiKey: string; appKey: string },
  metric: string,
  from: number,
  to: number,
): Promise<{ status: number; values: number[] }> {
  const response = await fetch(`${url}/api/v1/query?from=${from}&to=${to}&query=${encodeURIComponent(`sum:${metric}{*}`)}`, {
    headers: { 'dd-api-key': keys.apiKey, 'dd-application-key': keys.appKey },
  });
  if (response.status !== 200) return { status: response.status, values: [] };
  const body = (await response.json()) as { series: Array<{ pointlist: Array<[number, number]> }> };
  return { status: 200, values: body.series.flatMap((s) => s.pointlist.map(([, value]) => value)) };
}

/**
 * Raw TCP connections that send nothing and record every byte the server sends them. The
 * only thing a server may send unasked is its own timeout answer to a silent connection
 * (`HTTP/1.1 408 …`, then close); anything else — journal records — counts as `unsolicited`.
 */
export class IdleSockets {
  private readonly sockets: Socket[] = [];
  private readonly data = new Map<Socket, Buffer[]>();

  /** Bytes received that are not the server's own 408 answer. */
  get unsolicited(): number {
    let bytes = 0;
    for (const chunks of this.data.values()) {
      const all = Buffer.concat(chunks);
      if (all.length > 0 && !/^HTTP\/1\.1 408 Request Timeout\r\n/.test(all.toString('latin1'))) bytes += all.length;
    }
    return bytes;
  }

  open(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve());
      this.data.set(socket, []);
      socket.on('data', (chunk: Buffer) => this.data.get(socket)!.push(chunk));
      socket.on('error', () => {}); // reset when the server dies: not data
      socket.once('error', reject);
      this.sockets.push(socket);
    });
  }

  get count(): number {
    return this.sockets.length;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** Missing and unexpected values, for an assertion message that says what differs. */
export function difference(acknowledged: Set<number>, stored: readonly number[]): { missing: number; extra: number; duplicates: number } {
  const storedSet = new Set(stored);
  let missing = 0;
  for (const v of acknowledged) if (!storedSet.has(v)) missing++;
  let extra = 0;
  for (const v of storedSet) if (!acknowledged.has(v)) extra++;
  return { missing, extra, duplicates: stored.length - storedSet.size };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
