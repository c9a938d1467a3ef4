/**
 * The simulated fleet of bench/rotate-fleet.ts, run in a worker thread so 1,000 agents' HTTP
 * traffic has its own event loop, as a real fleet does not share the rotating process's.
 *
 * Each simulated agent behaves like rekey-agent: one count point per second, a flush every
 * 10 s (agents spread evenly over the 10 s), points kept until the intake answers 202, a 403
 * re-reads the key from its config, and a restart (reload) flushes at once.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const FLUSH_MS = 10_000;
const METRIC = 'bench.rotate.points';
const { url, key, count } = workerData as { url: string; key: string; count: number };
/**
 * node:http with keep-alive, not fetch: at 10,000 agents this thread sends ~1,000 posts a
 * second, and fetch's per-request machinery (web streams, Request objects, transferable abort
 * signals) cost a whole core here — a cost of the simulation, not of a fleet, whose agents
 * each post from their own host. Sockets are reused as an agent's would be.
 */
// 256 sockets: uncapped, 10,000 agents opened thousands of connections and the server, on a busy
// 2-core machine, had not heard from every host within 90 s; capped, a restart's flush can wait
// in this pool's queue behind the fleet's regular flushes (the timeline shows it).
const connections = new Agent({ keepAlive: true, maxSockets: 256 });
const target = new URL('/api/v1/series', url);

/** POSTs one payload; resolves with the status (the answer's body is read and dropped). */
function post(apiKey: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      target,
      {
        method: 'POST',
        agent: connections,
        timeout: 30_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'DD-API-KEY': apiKey },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error('timed out after 30 s')));
    outgoing.once('error', reject);
    outgoing.end(body);
  });
}

class SimAgent {
  configKey: string;
  runningKey: string;
  pending: Array<[number, number]> = [];
  generated = 0;
  forbidden = 0;
  failed = 0;
  private inFlight = false;
  private again = false;
  /** Set by a reload that found nothing to send: the next point goes out at once. */
  private flushSoon = false;

  constructor(readonly name: string) {
    this.configKey = key;
    this.runningKey = key;
  }

  generate(second: number): void {
    this.pending.push([second, 1]);
    this.generated++;
    if (this.flushSoon) {
      this.flushSoon = false;
      void this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.pending.length === 0) return;
    this.inFlight = true;
    const batch = this.pending.slice();
    try {
      const status = await post(this.runningKey, JSON.stringify({ series: [{ metric: METRIC, type: 'count', interval: 1, host: this.name, points: batch }] }));
      if (status === 202) this.pending.splice(0, batch.length);
      else if (status === 403) {
        this.forbidden++;
        this.runningKey = this.configKey; // rekey-agent re-reads its config on a 403
      } else this.failed++;
    } catch {
      this.failed++;
    } finally {
      this.inFlight = false;
    }
    if (this.again) {
      this.again = false;
      await this.flush();
    }
  }

  reload(): void {
    this.runningKey = this.configKey;
    if (this.pending.length === 0 && !this.inFlight) this.flushSoon = true;
    else void this.flush();
  }
}

const agents = Array.from({ length: count }, (_, i) => new SimAgent(`sim-${String(i).padStart(4, '0')}`));
const byName = new Map(agents.map((agent) => [agent.name, agent]));
let generating = true;
let lastSecond = 0;
let tick = 0;
const slot = (i: number) => Math.floor((i * FLUSH_MS) / count / 100);
const ticker = setInterval(() => {
  const second = Math.floor(Date.now() / 1000);
  if (generating && second !== lastSecond) {
    lastSecond = second;
    for (const agent of agents) agent.generate(second);
  }
  const current = tick++ % (FLUSH_MS / 100);
  agents.forEach((agent, i) => {
    if (slot(i) === current) void agent.flush();
  });
}, 100);

type Request =
  | { id: number; op: 'deploy'; host: string; key: string }
  | { id: number; op: 'restart' | 'last4'; host: string }
  | { id: number; op: 'rollback'; host: string; key: string }
  | { id: number; op: 'drain' };

/** A failed request ends the worker loudly: the benchmark's result would be wrong otherwise. */
parentPort!.on('message', (request: Request) => {
  handle(request).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});

async function handle(request: Request): Promise<void> {
  const reply = (value: unknown) => parentPort!.postMessage({ id: request.id, value });
  switch (request.op) {
    case 'deploy': {
      const agent = byName.get(request.host)!;
      const backup = agent.configKey;
      agent.configKey = request.key;
      return reply(backup);
    }
    case 'restart':
      byName.get(request.host)!.reload();
      return reply(null);
    case 'rollback':
      byName.get(request.host)!.configKey = request.key;
      return reply(null);
    case 'last4':
      return reply(byName.get(request.host)!.configKey.slice(-4));
    case 'drain': {
      generating = false;
      clearInterval(ticker);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && agents.some((a) => a.pending.length > 0)) {
        await Promise.all(agents.map((agent) => agent.flush()));
        if (agents.some((a) => a.pending.length > 0)) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return reply({
        agents: agents.map((a) => ({ name: a.name, generated: a.generated, pending: a.pending.length, runningKeyLast4: a.runningKey.slice(-4) })),
        forbidden: agents.reduce((sum, a) => sum + a.forbidden, 0),
        failed: agents.reduce((sum, a) => sum + a.failed, 0),
        key: agents[0]!.configKey, // the new key, for the benchmark's read-back query only
      });
    }
  }
}
parentPort!.postMessage({ ready: true });
