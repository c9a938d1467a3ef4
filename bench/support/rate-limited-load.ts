/**
 * A rate-limited intake load generator meant to run in its own process, so the load it puts
 * on the servers does not share an event loop with the process that times something else
 * (bench/revocation-under-ingest.ts). It reads its settings as one JSON line on stdin — the API
 * key with them, since keys pass between processes through stdin, never as arguments — then
 * POSTs 100-point v2 JSON bodies to each URL at `ratePerUrl` requests/s with autocannon's
 * `overallRate`, prints `started`, and on SIGTERM (or stdin closing) stops and prints one JSON
 * line per URL: requests/s achieved, 2xx, non-2xx, errors, latency p50/p99.
 *
 * @example
 *   const child = spawn(process.execPath, ['--import', 'tsx', 'bench/support/rate-limited-load.ts'], { stdio: ['pipe', 'pipe', 'inherit'] });
 *   child.stdin.write(JSON.stringify({ urls, apiKey, ratePerUrl: 400, connections: 10 }) + '\n');
 */
import autocannon from 'autocannon';
import { hundredPointBodies, type LoadResult } from '../intake-bench-support.js';

export interface RateLimitedLoadSettings {
  urls: string[];
  apiKey: string;
  /** Requests per second to send to each URL. */
  ratePerUrl: number;
  /** Connections per URL. */
  connections: number;
}

export interface RateLimitedLoadResult extends LoadResult {
  url: string;
}

/** What autocannon's `autocannon(options)` returns: a promise of the result that can be stopped. */
interface Tracker extends PromiseLike<Awaited<ReturnType<typeof autocannon>>> {
  stop(): void;
}

function readSettings(): Promise<RateLimitedLoadSettings> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end === -1) return;
      process.stdin.off('data', onData);
      resolve(JSON.parse(text.slice(0, end)) as RateLimitedLoadSettings);
    };
    process.stdin.on('data', onData);
  });
}

const settings = await readSettings();
const bodies = hundredPointBodies(500);
let next = 0;
const trackers = settings.urls.map((url) => {
  const options = {
    url: `${url}/api/v2/series`,
    connections: settings.connections,
    overallRate: settings.ratePerUrl,
    // Runs until stopped; an hour is only the bound if the parent never stops it.
    duration: 3600,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'dd-api-key': settings.apiKey },
    requests: [{ method: 'POST', setupRequest: (request: Record<string, unknown>) => ({ ...request, body: bodies[next++ % bodies.length] }) }],
  };
  return autocannon(options) as unknown as Tracker;
});
process.stdout.write('started\n');

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const tracker of trackers) tracker.stop();
  const results = await Promise.all(trackers);
  for (const [index, result] of results.entries()) {
    const line: RateLimitedLoadResult = {
      url: settings.urls[index]!,
      requestsPerSecond: result['2xx'] / result.duration,
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      durationSeconds: result.duration,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
// The parent closing stdin (or dying) stops the load too.
process.stdin.on('end', () => void stop());
process.stdin.resume();
