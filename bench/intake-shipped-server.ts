/**
 * The intake of the server users run — the built `rekey server` (dist/cli/main.js), started as
 * the README starts it (default flags: log level info, durability process, the default rate
 * limits), in its own process on SQLite — against the floor, a bare `node:http` server that only
 * parses the same 100-point v2 JSON (bench/intake-bench-server.ts bare), in its own process.
 * Rounds alternate floor → server, every round is printed, and the load average at start and
 * end. Goal (issue 18): ≥ 0.70 of the floor, judged on the median and the worst round.
 *
 * The server's default per-key rate limit (2,000 requests/s, burst 4,000) is part of what users
 * run, so 429s are counted and printed; points/s counts 202s only.
 *
 * Usage: node --import tsx bench/intake-shipped-server.ts [--seconds 5] [--rounds 5] [--connections 20]
 * (dist/ is rebuilt first when src/ is newer: bench/support/shipped-server.ts.)
 * Writes bench/results/intake-shipped-server.json.
 */
import { parseArgs } from 'node:util';
import { alternatingRounds, ratioFigures, roundsTable, type RoundsResult } from './support/alternating-rounds.js';
import { writeBenchResult } from './support/bench-result.js';
import { startShippedServer } from './support/shipped-server.js';
import { hundredPointBodies, load, startBenchServer } from './intake-bench-support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '20' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const POINTS_PER_BODY = 100;
const bodies = hundredPointBodies(500);
const bare = await startBenchServer('bare', process.env);
const shipped = await startShippedServer();
const json = { 'content-type': 'application/json' };
let result: RoundsResult;
let logLines: number;
try {
  const linesBefore = shipped.logLines();
  result = await alternatingRounds({
    rounds,
    seconds,
    pointsPerRequest: POINTS_PER_BODY,
    runFloor: (s) => load({ url: `${bare.url}/api/v2/series`, headers: json, bodies, connections, seconds: s }),
    runServer: (s) => load({ url: `${shipped.url}/api/v2/series`, headers: { ...json, 'dd-api-key': shipped.apiKey }, bodies, connections, seconds: s }),
  });
  logLines = shipped.logLines() - linesBefore;
} finally {
  await shipped.stop();
  await bare.stop();
}
const serverRequests = result.rounds.reduce((n, r) => n + r.server.ok + r.server.non2xx, 0);
process.stdout.write(`server log lines during the run: ${logLines} (${serverRequests} measured requests + warm-up)\n`);
writeBenchResult('intake-shipped-server', {
  figures: [
    ...ratioFigures(result, 'shipped rekey server / bare node:http, 100-point v2 JSON', 0.7),
    { name: 'server answers other than 202 (all rounds; 429 = default per-key rate limit)', value: result.rounds.reduce((n, r) => n + r.server.non2xx, 0), unit: 'requests' },
    { name: 'server log lines during the run (warm-up and rounds)', value: logLines, unit: 'lines' },
  ],
  tables: [roundsTable(result, POINTS_PER_BODY)],
});
