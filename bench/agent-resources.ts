/**
 * rekey-agent's footprint, measured on the BUILT agent (`npm run build`, then
 * `node dist/agent/main.js run`):
 * - idle: RSS and CPU (% of one core) over IDLE_S seconds at the default 15 s flush;
 * - load: 20,000 DogStatsD packets/s for LOAD_S seconds from a separate process; RSS, CPU,
 *   packets sent vs the agent's received counter, and the counter's total at the intake.
 * Goals (issue 6): RSS ≤ 60 MB, idle CPU ≤ 0.5 % of a core, no packet loss at 20,000/s.
 *
 * CPU comes from /proc/<pid>/stat (utime + stime), RSS from /proc/<pid>/status (VmRSS).
 * The intake is an in-process recorder (test/agent/support/recording-intake.ts).
 *
 * The agent runs with its Node flags (src/agent/node-flags.ts: the bin's shebang and the
 * installed services use the same); AGENT_BENCH_NODE_FLAGS='' measures plain
 * `node dist/agent/main.js`, AGENT_BENCH_NODE_FLAGS='--max-opt=1' any other set.
 *
 * The load lasts 40 s by default: DogStatsD buckets are held until the flush after they close
 * (every 15 s), so memory under load only reaches its plateau after two or three flushes; a
 * 20 s window missed ~4 MB of it.
 *
 * Usage: node --import tsx bench/agent-resources.ts   (env AGENT_BENCH_IDLE_S, AGENT_BENCH_LOAD_S, AGENT_BENCH_RATE, AGENT_BENCH_NODE_FLAGS)
 * Writes bench/results/agent-resources.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../src/keys/key-format.js';
import { RecordingIntake, waitFor } from '../test/agent/support/recording-intake.js';
import { removeDir, startAgent, stopAgent, tempDir, writeYamlConfig } from '../test/agent/support/agent-process.js';
import { repoRoot } from '../test/support/processes.js';
import { writeBenchResult } from './support/bench-result.js';
import { AGENT_NODE_FLAGS } from '../src/agent/node-flags.js';

/** V8 flags as the installed service uses them (src/agent/install-service.ts); '' for plain node. */
const NODE_FLAGS = (process.env.AGENT_BENCH_NODE_FLAGS ?? AGENT_NODE_FLAGS.join(' ')).split(' ').filter((f) => f !== '');
const IDLE_S = Number(process.env.AGENT_BENCH_IDLE_S ?? 30);
const LOAD_S = Number(process.env.AGENT_BENCH_LOAD_S ?? 40);
const RATE = Number(process.env.AGENT_BENCH_RATE ?? 20_000);
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** CPU % of one core and max RSS of `pid` over `seconds`, sampled every second. */
async function measure(pid: number, seconds: number): Promise<{ cpuPct: number; maxRssMb: number; lastRssMb: number }> {
  const t0 = process.hrtime.bigint();
  const c0 = cpuTicks(pid);
  let maxRss = rssMb(pid);
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    maxRss = Math.max(maxRss, rssMb(pid));
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = (cpuTicks(pid) - c0) / CLOCK_TICKS;
  return { cpuPct: (100 * cpuSeconds) / elapsed, maxRssMb: maxRss, lastRssMb: rssMb(pid) };
}

/** The UDP sender, a separate process: RATE packets/s for LOAD_S s, prints how many it sent. */
const SENDER = `
const dgram = require('node:dgram');
const [port, rate, seconds] = process.argv.slice(1).map(Number);
const socket = dgram.createSocket('udp4');
socket.connect(port, '127.0.0.1', () => {
const start = process.hrtime.bigint();
let sent = 0;
let counters = 0;
const total = rate * seconds;
const packets = [Buffer.from('bench.load:1|c|#src:bench'), Buffer.from('bench.level:42|g|#src:bench'), Buffer.from('bench.latency:12|ms|#src:bench')];
function tick() {
  const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * rate));
  while (sent < due) { const i = sent % 4 === 0 ? (sent % 8 === 0 ? 1 : 2) : 0; if (i === 0) counters++; socket.send(packets[i]); sent++; }
  if (sent < total) setTimeout(tick, 1); else setTimeout(() => { socket.close(); console.log(JSON.stringify({ sent, counters })); }, 200);
}
tick();
});
`;

async function main(): Promise<void> {
  process.stderr.write('building (npm run build)…\n');
  spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'ignore' });
  const main = join(repoRoot, 'dist/agent/main.js');
  if (!existsSync(main)) throw new Error('npm run build did not produce dist/agent/main.js');

  const key = generateKey('api');
  const dir = await tempDir('rekey-agent-bench-');
  const intake = await RecordingIntake.start([key]);
  try {
    const config = join(dir, 'datadog.yaml');
    await writeYamlConfig(config, { apiKey: key, url: intake.url, hostname: 'bench-host' });
    const agent = await startAgent({ config, runPath: join(dir, 'run'), flushInterval: 15, command: [process.execPath, ...NODE_FLAGS, main] });
    const pid = agent.child.pid!;
    process.stderr.write(`agent pid ${pid}; idle for ${IDLE_S} s…\n`);
    await sleep(5000); // start-up work (metadata, first flush baseline) is not idle
    const idle = await measure(pid, IDLE_S);
    process.stderr.write(`idle: CPU ${idle.cpuPct.toFixed(3)} % of a core, RSS max ${idle.maxRssMb.toFixed(1)} MB\n`);

    const before = (await agent.status()).components.dogstatsd.received;
    process.stderr.write(`load: ${RATE} packets/s for ${LOAD_S} s from a separate process…\n`);
    const sender = spawn(process.execPath, ['-e', SENDER, String(agent.dogstatsdPort), String(RATE), String(LOAD_S)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let senderOut = '';
    sender.stdout.on('data', (chunk) => (senderOut += chunk));
    const senderDone = new Promise<void>((resolve) => sender.on('exit', () => resolve()));
    const load = await measure(pid, LOAD_S);
    await senderDone;
    const { sent, counters } = JSON.parse(senderOut) as { sent: number; counters: number };
    await sleep(500);
    const received = (await agent.status()).components.dogstatsd.received - before;
    const recvBuffer = (await agent.status()).components.dogstatsd.recvBufferBytes;
    process.stderr.write(`load: CPU ${load.cpuPct.toFixed(1)} %, RSS max ${load.maxRssMb.toFixed(1)} MB, sent ${sent}, received ${received}\n`);
    // SIGTERM queues the open bucket and delivers it: the counter's total must match.
    await stopAgent(agent, 'SIGTERM');
    await waitFor(() => intake.sum('bench.load') >= counters, 10_000, 'the load counter at the intake').catch(() => undefined);
    const arrived = intake.sum('bench.load');
    const lost = sent - received;

    const loadAverage = os.loadavg();
    const figures = [
      { name: 'idle RSS (max)', value: round(idle.maxRssMb), unit: 'MB', goal: '≤ 60 MB', met: idle.maxRssMb <= 60 },
      { name: 'idle CPU', value: round(idle.cpuPct, 3), unit: '% of a core', goal: '≤ 0.5 %', met: idle.cpuPct <= 0.5 },
      { name: `RSS under ${RATE} packets/s (max)`, value: round(load.maxRssMb), unit: 'MB', goal: '≤ 60 MB', met: load.maxRssMb <= 60 },
      { name: `CPU under ${RATE} packets/s`, value: round(load.cpuPct), unit: '% of a core' },
      { name: `packets lost at ${RATE}/s (sent − received)`, value: lost, unit: 'packets', goal: '0', met: lost === 0 },
      { name: 'counter increments stored at the intake vs sent', value: arrived - counters, unit: 'difference', goal: '0', met: arrived === counters },
    ];
    const file = writeBenchResult('agent-resources', {
      figures,
      details: {
        loadAverage,
        cpus: os.cpus().length,
        idleSeconds: IDLE_S,
        loadSeconds: LOAD_S,
        rate: RATE,
        sent,
        received,
        counters,
        arrived,
        recvBufferBytes: recvBuffer,
        idle,
        load,
        agent: ['node', ...NODE_FLAGS, 'dist/agent/main.js'].join(' '),
      },
    });
    for (const f of figures) process.stdout.write(`${f.name}: ${f.value} ${f.unit}${f.goal ? ` (goal ${f.goal}: ${f.met ? 'met' : 'NOT met'})` : ''}\n`);
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await intake.close();
    await removeDir(dir);
  }
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

await main();
