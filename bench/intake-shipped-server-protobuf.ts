/**
 * The intake of the server users run, on what the Datadog Agent sends: v2 protobuf
 * MetricPayloads, deflated (`Content-Type: application/x-protobuf`, `Content-Encoding:
 * deflate`), 100 series of one point each per payload (bench/intake-bench-support.ts
 * agentProtobufBodies), 500 distinct payloads. The built `rekey server` as the README starts
 * it (default flags, SQLite; bench/support/shipped-server.ts) against the floor: a bare
 * `node:http` server that only inflates and decodes the same payloads with protobufjs
 * (bench/intake-bench-server.ts bare-protobuf). Each in its own process, autocannon in this
 * one; rounds alternate floor → server, each printed, load average at start and end.
 * Goal (issue 18): ≥ 0.70 of the floor, judged on the median and the worst round.
 *
 * Usage: node --import tsx bench/intake-shipped-server-protobuf.ts [--seconds 5] [--rounds 5] [--connections 20]
 * Writes bench/results/intake-shipped-server-protobuf.json.
 */
import { parseArgs } from 'node:util';
import { alternatingRounds, ratioFigures, roundsTable } from './support/alternating-rounds.js';
import { writeBenchResult } from './support/bench-result.js';
import { startShippedServer } from './support/shipped-server.js';
import { agentProtobufBodies, load, startBenchServer } from './intake-bench-support.js';

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
const bodies = agentProtobufBodies(500);
const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'deflate' };
const bare = await startBenchServer('bare-protobuf', process.env);
const shipped = await startShippedServer();
let result;
try {
  result = await alternatingRounds({
    rounds,
    seconds,
    pointsPerRequest: POINTS_PER_BODY,
    runFloor: (s) => load({ url: `${bare.url}/api/v2/series`, headers, bodies, connections, seconds: s }),
    runServer: (s) => load({ url: `${shipped.url}/api/v2/series`, headers: { ...headers, 'dd-api-key': shipped.apiKey }, bodies, connections, seconds: s }),
  });
} finally {
  await shipped.stop();
  await bare.stop();
}
writeBenchResult('intake-shipped-server-protobuf', {
  figures: [
    ...ratioFigures(result, 'shipped rekey server / bare node:http + protobufjs decode, Agent-shaped v2 protobuf (deflate, 100 series × 1 point)', 0.7),
    { name: 'server answers other than 202 (all rounds)', value: result.rounds.reduce((n, r) => n + r.server.non2xx, 0), unit: 'requests' },
    { name: 'average compressed payload', value: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length), unit: 'bytes' },
  ],
  tables: [roundsTable(result, POINTS_PER_BODY)],
});
