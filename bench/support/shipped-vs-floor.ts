/**
 * One "shipped server vs bare floor" intake measurement (issue 18), shared by the JSON and the
 * protobuf benchmarks so both start, load and stop the two servers the same way: the floor
 * (bench/intake-bench-server.ts, a bare `node:http` server doing only the parse) and the built
 * `rekey server` as the README starts it (bench/support/shipped-server.ts), each in its own
 * process, autocannon in this one, rounds alternated (bench/support/alternating-rounds.ts).
 */
import { alternatingRounds, type RoundsResult } from './alternating-rounds.js';
import { startShippedServer, type ShippedServerOptions } from './shipped-server.js';
import { load, startBenchServer, type BenchServerMode } from '../intake-bench-support.js';

export interface ShippedVsFloorResult {
  result: RoundsResult;
  /** Lines the shipped server logged during warm-up and rounds. */
  logLines: number;
  /** Requests the shipped server answered during the rounds (202 or not). */
  serverRequests: number;
}

export async function shippedVsFloor(options: {
  floor: BenchServerMode;
  bodies: Array<string | Buffer>;
  headers: Record<string, string>;
  pointsPerRequest: number;
  rounds: number;
  seconds: number;
  connections: number;
  server?: ShippedServerOptions;
}): Promise<ShippedVsFloorResult> {
  const { bodies, headers, connections } = options;
  const bare = await startBenchServer(options.floor, process.env);
  const shipped = await startShippedServer(options.server);
  try {
    const linesBefore = shipped.logLines();
    const result = await alternatingRounds({
      rounds: options.rounds,
      seconds: options.seconds,
      pointsPerRequest: options.pointsPerRequest,
      runFloor: (s) => load({ url: `${bare.url}/api/v2/series`, headers, bodies, connections, seconds: s }),
      runServer: (s) => load({ url: `${shipped.url}/api/v2/series`, headers: { ...headers, 'dd-api-key': shipped.apiKey }, bodies, connections, seconds: s }),
    });
    const logLines = shipped.logLines() - linesBefore;
    const serverRequests = result.rounds.reduce((n, r) => n + r.server.ok + r.server.non2xx, 0);
    process.stdout.write(`server log lines during the run: ${logLines} (${serverRequests} measured requests + warm-up)\n`);
    return { result, logLines, serverRequests };
  } finally {
    await shipped.stop();
    await bare.stop();
  }
}

/** Answers other than 202 over all rounds (429 = the default per-key rate limit). */
export function serverNon2xx(result: RoundsResult): number {
  return result.rounds.reduce((n, r) => n + r.server.non2xx, 0);
}
