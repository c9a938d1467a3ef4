/**
 * `rekey upstream drain` (issue 19, docs/scaling.md "Losing a node"): delivers what another
 * node's spool holds — a spool directory copied from a node that is gone — through this
 * deployment's upstream settings. It is the relay's own code used once: the spool is opened
 * as a restarted node opens its own (relay-spool.ts: the payloads without a `delivered` record,
 * re-spooled into a new file of that directory), and handed to the same `Delivery` (backoff
 * with jitter, Retry-After, a refused upstream key holding delivery until a working one is
 * set, 400/413… to dead letters in that directory). Each delivered payload gets its
 * `delivered` record in the drained directory at once, so a second run — after a timeout, a
 * Ctrl-C, a SIGKILL — sends only what is left.
 *
 * One drain at a time per directory: `<spool>/drain.lock` holds the pid of the drain running
 * (a lock left by a killed run is taken over). A relay node running on the same directory
 * is not detected: drain a copy of a node that is gone, never a live node's spool.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { rekeyError } from '../errors.js';
import type { Store } from '../store/store.js';
import { DeadLetters } from './dead-letters.js';
import { Delivery, type DeliveryOptions } from './delivery.js';
import type { RelayMetrics } from './relay-metrics.js';
import { RelaySpool } from './relay-spool.js';
import { UpstreamDirectory, type UpstreamDefaults } from './upstream-directory.js';
import { tryPidLock } from '../config/pid-lock.js';

export const DRAIN_LOCK_FILE = 'drain.lock';

export interface DrainOptions {
  store: Store;
  /** The spool directory to drain (it has a `payloads/` folder). */
  spoolDir: string;
  /** How long to keep trying before reporting what is left (exit 1; a re-run goes on). */
  timeoutMs: number;
  delivery?: DeliveryOptions;
  defaults?: UpstreamDefaults;
  pollMs?: number;
  /** Progress lines (stdout). */
  say: (line: string) => void;
  /** Delivery's own log lines (stderr). */
  warn: (line: string) => void;
  /** How often progress is checked (default 200 ms). */
  tickMs?: number;
}

export interface DrainReport {
  /** Undelivered payloads found in the directory. */
  found: number;
  delivered: number;
  deadLettered: number;
  /** Still undelivered when the command stopped (0 when it finished). */
  remaining: number;
  /** Records cut short by the crash (never acknowledged to an agent). */
  tornRecords: number;
  /** Why delivery waited, when it did (a refused upstream key, no upstream set…). */
  problems: string[];
}

export async function drainSpool(options: DrainOptions): Promise<DrainReport> {
  assertSpoolDir(options.spoolDir);
  const releaseLock = takeLock(options.spoolDir);
  const directory = new UpstreamDirectory(options.store, await options.store.deploymentSecret(), {
    ...(options.defaults === undefined ? {} : { defaults: options.defaults }),
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    onError: (error) => options.warn(`reading the upstreams failed; will retry: ${error instanceof Error ? error.message : String(error)}`),
  });
  let spool: RelaySpool | undefined;
  let delivery: Delivery | undefined;
  try {
    await directory.start();
    // sync: the `delivered` marks are fdatasync()ed as they are written (the marks of one
    // event-loop turn together, relay-spool.ts); close() writes any still queued.
    const opened = RelaySpool.open(options.spoolDir, { maxBytes: Number.MAX_SAFE_INTEGER, sync: true });
    spool = opened.spool;
    if (opened.recovered.recoveryHeldBy !== undefined) {
      throw rekeyError('USAGE', {
        detail: `another process (pid ${opened.recovered.recoveryHeldBy}) is recovering ${options.spoolDir} (its recover.lock); a relay node must not run on a spool being drained`,
      });
    }
    const counts = { delivered: 0, deadLettered: 0 };
    delivery = new Delivery(spool, directory, new DeadLetters(options.spoolDir), countingMetrics(counts), plainLogger(options.warn), options.delivery ?? {});
    const found = opened.recovered.payloads.length;
    const orgs = new Set(opened.recovered.payloads.map((payload) => payload.orgId));
    options.say(
      `${found} undelivered payload(s) in ${options.spoolDir}${found > 0 ? ` for ${orgs.size} organization(s)` : ''}${opened.recovered.tornRecords > 0 ? `; ${opened.recovered.tornRecords} torn record(s) skipped (never acknowledged)` : ''}`,
    );
    for (const { file, pid } of opened.recovered.liveWriters) {
      options.warn(
        `${file} names process ${pid}, which runs, so it was not read; if that is not a rekey process on this spool, rename the file with the prefix moved- and drain again`,
      );
    }
    for (const payload of opened.recovered.payloads) delivery.enqueue(payload);

    const deadline = Date.now() + options.timeoutMs;
    const tickMs = options.tickMs ?? 200;
    let lastProblems = '';
    let lastProgressAt = Date.now();
    const drained = spool;
    while (drained.count > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, tickMs));
      const problems = delivery.problems();
      const text = problems.join('; ');
      if (text !== lastProblems && text !== '') options.say(`waiting: ${text}`);
      lastProblems = text;
      if (Date.now() - lastProgressAt >= 5000) {
        lastProgressAt = Date.now();
        options.say(`${counts.delivered} delivered, ${counts.deadLettered} dead-lettered, ${drained.count} left`);
      }
    }
    const problems = delivery.problems();
    return {
      found,
      delivered: counts.delivered,
      deadLettered: counts.deadLettered,
      remaining: drained.count,
      tornRecords: opened.recovered.tornRecords,
      problems,
    };
  } finally {
    await delivery?.close();
    spool?.close();
    directory.stop();
    releaseLock();
  }
}

function assertSpoolDir(dir: string): void {
  try {
    if (statSync(join(dir, 'payloads')).isDirectory()) return;
  } catch {
    // reported below
  }
  throw rekeyError('USAGE', { detail: `${dir} is not a relay spool (no payloads/ folder in it): give --spool the relay-spool directory of the lost node` });
}

/** Creates `<dir>/drain.lock` with this pid (pid-lock.ts); a lock whose process is gone is taken over. */
function takeLock(dir: string): () => void {
  const lock = tryPidLock(join(dir, DRAIN_LOCK_FILE));
  if ('heldBy' in lock) throw rekeyError('USAGE', { detail: `another rekey upstream drain (pid ${lock.heldBy}) is draining ${dir}; wait for it to finish` });
  return lock.release;
}

/** The relay's metrics, reduced to what the report needs: payloads accepted upstream and dead letters. */
function countingMetrics(counts: { delivered: number; deadLettered: number }): RelayMetrics {
  return {
    spool: () => {},
    setKeyRefused: () => {},
    forwarded: (status) => {
      if (status >= 200 && status < 300) counts.delivered += 1;
    },
    deadLettered: () => {
      counts.deadLettered += 1;
    },
    accepted: () => {},
    refused: () => {},
    oldestPayloads: () => {},
  };
}

/** Delivery logs through pino (as in the server); here its messages become plain lines. */
function plainLogger(write: (line: string) => void) {
  return pino(
    { level: 'info', base: null, timestamp: false },
    {
      write(json: string) {
        const entry = JSON.parse(json) as { msg?: string; status?: number; path?: string };
        write(
          `${entry.msg ?? ''}${entry.status === undefined ? '' : ` (upstream answered ${entry.status}${entry.path === undefined ? '' : ` to ${entry.path}`})`}`,
        );
      },
    },
  );
}
