/**
 * Copies SQLite's write-ahead log back into the database file from a worker thread, so no
 * request waits for it.
 *
 * Why: in WAL mode a commit appends to the log; every ~1000 pages SQLite "checkpoints" — writes
 * the pages into the database file and fsyncs it — inside whichever commit crossed the
 * threshold. That commit, and the request behind it, then takes 10–20 ms instead of ~1 ms: it
 * was the p99 of key creation and revocation (bench/management-latency.ts). Here the request
 * connection's automatic checkpoint is raised to a backstop (should this thread ever stop),
 * and a connection of its own, on another thread, runs a PASSIVE checkpoint every
 * `intervalMs`. PASSIVE never blocks readers or the writer; it copies what it can and the next
 * round copies the rest. Durability is unchanged: a committed transaction is in the log
 * either way.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Log size after which a commit checkpoints by itself (SQLite's default is 1000 pages, 4 MiB). */
export const BACKSTOP_AUTOCHECKPOINT_BYTES = 80 * 1024 * 1024;

// The worker's whole program. It is CommonJS evaluated from this string so it runs the same
// from TypeScript sources (tests) and from the built dist/ (no separate file to locate).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
let timer;
const round = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage({ error: String(error && error.message || error) }); }
  timer = setTimeout(round, workerData.intervalMs);
};
parentPort.on('message', (message) => {
  if (message === 'stop') { clearTimeout(timer); try { db.close(); } catch {} parentPort.close(); }
});
timer = setTimeout(round, workerData.intervalMs);
`;

export interface SqliteCheckpointer {
  stop(): Promise<void>;
}

export function startSqliteCheckpointer(options: { file: string; intervalMs?: number; onError?: (message: string) => void }): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { file: options.file, driver, intervalMs: options.intervalMs ?? 250 },
    // The worker needs no loaders (tsx) and must not inherit the parent's flags that expect a module entry point.
    execArgv: [],
  });
  worker.unref();
  worker.on('message', (message: { error?: string }) => {
    if (message.error !== undefined) options.onError?.(message.error);
  });
  worker.on('error', (error) => options.onError?.(error.message));
  let stopped: Promise<void> | undefined;
  return {
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.ref(); // the caller waits for the exit; keep the process alive until then
        worker.postMessage('stop');
        setTimeout(() => void worker.terminate(), 2000).unref();
      })),
  };
}
