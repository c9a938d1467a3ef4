/**
 * The two bare `node:http` children of the relay benchmarks (bench/relay-vs-proxy.ts,
 * bench/profile-relay.ts): the upstream sink the relay and the proxy forward to, and the
 * floor — a stream-pipe reverse proxy. Each runs in its own process, so the process measured
 * pays for nothing but itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The upstream: reads each body, answers 202; GET /count gives the requests received per DD-API-KEY. */
const SINK = `
const http = require('node:http');
const counts = {};
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(JSON.stringify(counts)); }
  req.on('data', () => {});
  req.on('end', () => {
    const key = String(req.headers['dd-api-key'] || '');
    counts[key] = (counts[key] || 0) + 1;
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"errors":[]}');
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

/** The floor: a bare reverse proxy, request and answer stream-piped, keep-alive to the sink. */
const PROXY = `
const http = require('node:http');
const upstreamPort = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(upstream);
});
process.on('SIGTERM', () => process.exit(0)); // an exit, not a kill by signal: --cpu-prof writes its file
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

export interface Child {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function startScript(source: string, args: string[] = [], nodeArgs: string[] = []): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '-e', source, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(out);
      if (match) {
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        resolve({
          url: `http://127.0.0.1:${match[1]}`,
          pid: child.pid!,
          stop: () => new Promise((done) => (child.exitCode !== null ? done() : (child.once('exit', () => done()), child.kill('SIGTERM')))),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`bench child exited with ${code} before listening`)));
  });
}

export const startSink = (): Promise<Child> => startScript(SINK);

/** `nodeArgs`: flags for its `node` (`--cpu-prof`…). */
export const startProxy = (sinkUrl: string, nodeArgs: string[] = []): Promise<Child> => startScript(PROXY, [new URL(sinkUrl).port], nodeArgs);

/** Requests the sink received per DD-API-KEY. */
export const sinkCounts = async (sink: Child): Promise<Record<string, number>> => (await (await fetch(`${sink.url}/count`)).json()) as Record<string, number>;
