/**
 * The intake of the server users run on its default database (SQLite) against a bare
 * `node:http` JSON floor; the measurement is bench/support/json-intake-bench.ts.
 * Goal (issue 18): ≥ 0.70 of the floor, on the median and the worst round.
 *
 * Usage: node --import tsx bench/intake-shipped-server.ts [--seconds 5] [--rounds 5] [--connections 20]
 * (dist/ is rebuilt first when src/ is newer: bench/support/shipped-server.ts.)
 * Writes bench/results/intake-shipped-server.json.
 */
import { runJsonIntakeBench } from './support/json-intake-bench.js';

await runJsonIntakeBench('sqlite', 'intake-shipped-server');
