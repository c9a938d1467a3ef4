/**
 * The intake of the server users run, on what the Datadog Agent sends: v2 protobuf
 * MetricPayloads, deflated (`Content-Type: application/x-protobuf`, `Content-Encoding:
 * deflate`), 100 series of one point each per payload (bench/intake-bench-support.ts
 * agentProtobufBodies), 500 distinct payloads. The built `rekey server` as the README starts
 * it (default flags, SQLite) against the floor: a bare `node:http` server that only inflates
 * and decodes the same payloads with protobufjs (bench/intake-bench-server.ts bare-protobuf),
 * measured the same way as the JSON benchmark (bench/support/shipped-vs-floor.ts).
 * Goal (issue 18): ≥ 0.70 of the floor, judged on the median and the worst round.
 *
 * Usage: node --import tsx bench/intake-shipped-server-protobuf.ts [--seconds 5] [--rounds 5] [--connections 20]
 * Writes bench/results/intake-shipped-server-protobuf.json.
 */
import { ratioFigures, roundsTable } from './support/alternating-rounds.js';
import { writeBenchResult } from './support/bench-result.js';
import { roundOptions } from './support/round-options.js';
import { serverNon2xx, shippedVsFloor } from './support/shipped-vs-floor.js';
import { agentProtobufBodies } from './intake-bench-support.js';

const POINTS_PER_BODY = 100;
const bodies = agentProtobufBodies(500);
const run = await shippedVsFloor({
  floor: 'bare-protobuf',
  bodies,
  headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'deflate' },
  pointsPerRequest: POINTS_PER_BODY,
  ...roundOptions(),
});
writeBenchResult('intake-shipped-server-protobuf', {
  figures: [
    ...ratioFigures(run.result, 'shipped rekey server / bare node:http + protobufjs decode, Agent-shaped v2 protobuf (deflate, 100 series × 1 point)', 0.7),
    { name: 'server answers other than 202 (all rounds)', value: serverNon2xx(run.result), unit: 'requests' },
    { name: 'average compressed payload', value: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length), unit: 'bytes' },
  ],
  tables: [roundsTable(run.result, POINTS_PER_BODY)],
});
