/**
 * A payload re-sent after a lost response is counted once, end to end with the real
 * `rekey server`: a proxy between the agent and the server forwards the payload that holds
 * our counter, lets the server store it and answer 202, then cuts the agent's connection
 * before the answer reaches it. The agent keeps the payload and sends it again; the server
 * stores the same points again, and its "newest write wins per (metric, host, tags,
 * timestamp)" makes the second copy replace the first: the total is what was sent, once.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { totalsByHost } from '../rotate/support/fleet.js';
import { stopAgent } from './support/agent-process.js';
import { dogstatsdSender, realServerTestbed, startAgentIn } from './support/real-server.js';
import { waitFor } from './support/recording-intake.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the answer to a stored payload is lost: the agent re-sends it and the real intake counts it once', { timeout: 120_000 }, async (t) => {
  const { dir, server, from } = await realServerTestbed(t, 'rekey-agent-lost-');
  const target = new URL(server.url);
  const seen = new Map<string, number>(); // payload id → times forwarded
  let cut = 0;
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const id = String(req.headers['x-rekey-payload-id'] ?? '');
      let holdsCounter = false;
      if (req.url === '/api/v1/series' && req.headers['content-encoding'] === 'deflate') holdsCounter = inflateSync(body).includes('lost.ticks');
      if (holdsCounter) seen.set(id, (seen.get(id) ?? 0) + 1);
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          if (holdsCounter && seen.get(id) === 1 && answer.statusCode === 202) {
            cut++;
            req.socket.destroy(); // stored by the server; the agent never hears it
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(parts));
        });
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  );
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const { agent } = await startAgentIn(t, dir, { apiKey: server.apiKey.key, url: proxyUrl, hostname: 'lost-host' });
  const send = dogstatsdSender(t, agent.dogstatsdPort);
  const packet = Array.from({ length: 10 }, () => 'lost.ticks:1|c').join('\n');
  for (let i = 0; i < 300; i++) {
    await send(packet);
    if (i % 50 === 49) await sleep(5);
  }
  await waitFor(async () => (await agent.status()).components.dogstatsd.metrics === 3000, 10_000, 'the counts at the agent');
  // The bucket closes within 10 s; its payload's first answer is lost, the re-send goes through.
  await waitFor(() => [...seen.values()].some((n) => n >= 2), 30_000, 'a re-send of the payload whose answer was lost');
  assert.ok(cut >= 1);
  assert.equal((await stopAgent(agent, 'SIGTERM')).code, 0, agent.output());
  await sleep(1500); // the server saves its batches every second
  const total = (await totalsByHost(server, 'lost.ticks', server.apiKey.key, from)).get('lost-host');
  assert.equal(total, 3000, 'stored once although the server received it twice');
});
