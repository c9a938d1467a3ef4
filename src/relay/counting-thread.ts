/**
 * Counts forwarded bodies (forwarded-usage.ts) on a worker thread, so that counting a body
 * costly to count never holds the event loop: the relay's promise that one key holder cannot
 * stall the server for the others.
 *
 * Why: counting is one synchronous pass over the decompressed body (up to 8 MiB,
 * MAX_COUNTED_BYTES), and its costliest bytes — 8 MiB of `0,0,…` from 8 KiB of gzip, or from
 * 756 bytes of zstd — held the event loop ~70–140 ms each (load ~9). Counted one at a time
 * (counting-queue.ts), a key sending them back to back kept the loop busy all the time: in a
 * hostile try every other request waited ~30–90 ms at the median. A body that decodes to at most
 * INLINE_DECODED_BYTES (every agent payload of a few hundred points) is still counted here, on
 * the event loop: a message to the worker and back would cost about what its count costs
 * (~40 µs for a 100-point payload, forwarded-usage.ts).
 *
 * One worker per node, started on first use, one body at a time: the bodies that need it wait
 * in a queue, per key, keys in turn (counting-queue.ts). A small body never waits there: behind
 * one large body in a single queue, a fleet's ordinary payloads piled up at hundreds per count
 * (the relay benchmark, 20 connections of one key: 94 % of them refused 429 for the backlog,
 * the relay at 0.06 of the proxy). The worker is started again after it fails. Its answers are
 * what `readForwardedPoints` gives: the points per host, or the intake's error (a RekeyError
 * with the same code and message).
 */
import { Worker } from 'node:worker_threads';
import { RekeyError, isRekeyError } from '../errors.js';
import type { IntakeLimits } from '../intake/intake-limits.js';
import type { CountingQueue } from './counting-queue.js';
import type { CountAnswer, CountRequest } from './counting-worker.js';
import { readForwardedPoints } from './forwarded-usage.js';
import type { PointsPerHost } from './json-points.js';

/** Bodies decoding to at most this many bytes are counted on the event loop (~0.2 ms of JSON). */
export const INLINE_DECODED_BYTES = 64 * 1024;

/** The worker's heap bound: it builds little (the counting allocates no object per value). */
const WORKER_HEAP_MB = 64;

interface Waiting {
  resolve: (counts: PointsPerHost) => void;
  reject: (error: Error) => void;
}

export class CountingThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /** `queue`: where the bodies of each key wait for the worker. */
  constructor(private readonly queue: CountingQueue) {}

  /**
   * `readForwardedPoints` for a body of `keyId`: on the event loop, at once, for one that
   * decodes to at most INLINE_DECODED_BYTES (its decompression stops there); otherwise on the
   * worker, in `keyId`'s turn.
   */
  async count(keyId: string, path: string, headers: Array<[string, string]>, body: Buffer, limits: IntakeLimits): Promise<PointsPerHost> {
    try {
      return await readForwardedPoints(path, headers, body, { ...limits, decodedBytes: Math.min(limits.decodedBytes, INLINE_DECODED_BYTES) });
    } catch (error) {
      if (!isRekeyError(error, 'PAYLOAD_TOO_LARGE') || limits.decodedBytes <= INLINE_DECODED_BYTES) throw error;
    }
    return this.queue.run(keyId, () => this.onWorker({ id: this.nextId++, path, headers, body, limits }));
  }

  /** Ends the worker (a server closing); counts waiting for it fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  private onWorker(request: CountRequest): Promise<PointsPerHost> {
    return new Promise<PointsPerHost>((resolve, reject) => {
      this.waiting.set(request.id, { resolve, reject });
      this.started().postMessage(request);
    });
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    // The worker's file beside this one: .ts when run from the sources (tsx), .js when built.
    const fromSources = import.meta.url.endsWith('.ts');
    const file = new URL(`./counting-worker${fromSources ? '.ts' : '.js'}`, import.meta.url);
    // From the sources (tests), the worker registers tsx itself: a worker does not inherit --import.
    const worker = new Worker(fromSources ? tsxBootstrap(file) : file, {
      eval: fromSources,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.unref(); // never what keeps a process alive
    worker.on('message', (answer: CountAnswer) => {
      const waiting = this.waiting.get(answer.id);
      if (waiting === undefined) return;
      this.waiting.delete(answer.id);
      if ('counts' in answer) waiting.resolve(new Map(answer.counts));
      else waiting.reject(answer.code === undefined ? new Error(answer.message) : new RekeyError(answer.code, answer.message));
    });
    const failed = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
    };
    worker.on('error', failed);
    worker.on('exit', (code) => failed(new Error(`the counting worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}

/** A worker's source that registers tsx, then imports `file` (tsx is a development dependency). */
function tsxBootstrap(file: URL): string {
  return `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); })`;
}
