/**
 * Issue 15, row 10: a client that drips a request (one body byte every 5 s, or one header line
 * every 5 s) cannot hold a connection of a real `rekey server` (default settings) open: the
 * whole request must arrive within 30 s and its headers within 10 s (app.ts SERVER_TIMEOUTS),
 * then Node answers 408 and closes; a connection that never sends a byte is closed after the
 * headers deadline. Raw sockets, no HTTP client smoothing anything over.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SERVER_TIMEOUTS } from '../../src/server/app.js';
import { startServerProcess } from '../support/server-process.js';

interface Drip {
  closedAfterMs: number | undefined;
  received: string;
  bytesSent: number;
}

/** Sends `head` at once, then one `drop` every `everyMs` until the server closes or `giveUpMs` passes. */
function drip(port: number, head: string, drop: string, everyMs: number, giveUpMs: number): Promise<Drip> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let bytesSent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedAfterMs: number | undefined) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closedAfterMs, received, bytesSent });
    };
    const giveUp = setTimeout(() => finish(undefined), giveUpMs);
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (!socket.writable) return;
        socket.write(drop);
        bytesSent += drop.length;
      }, everyMs);
    });
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => finish(Date.now() - started));
  });
}

describe('rekey server: request and header deadlines against slow clients', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rekey-timeouts-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { REKEY_DATABASE_URL: _url, REKEY_DATA: _data, ...env } = process.env;

  it('closes a connection dripping a body byte (or a header line) every 5 s within the bound', { timeout: 90_000 }, async () => {
    const server = await startServerProcess({ args: ['--data', dataDir, '--log-level', 'warn'], env });
    try {
      const bodyBound = SERVER_TIMEOUTS.requestMs + SERVER_TIMEOUTS.checkIntervalMs + 3_000;
      const headerBound = SERVER_TIMEOUTS.headersMs + SERVER_TIMEOUTS.checkIntervalMs + 3_000;
      const [body, headers, silent] = await Promise.all([
        // No key needed: the body is read before authentication.
        drip(
          server.port,
          'POST /api/v2/api_keys HTTP/1.1\r\nHost: rekey\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
          ' ',
          5_000,
          45_000,
        ),
        drip(server.port, 'GET /healthz HTTP/1.1\r\nHost: rekey\r\n', 'X-Drip: 1\r\n', 5_000, 45_000),
        // Connects and never sends a byte: Node's own checks never fire for it (see app.ts).
        drip(server.port, '', '', 3_600_000, 45_000),
      ]);
      assert.ok(silent.closedAfterMs !== undefined, 'the silent connection was still open after 45 s');
      assert.ok(silent.closedAfterMs <= headerBound, `silent connection closed after ${silent.closedAfterMs} ms (bound ${headerBound})`);
      assert.ok(body.closedAfterMs !== undefined, `the body dripper was still connected after 45 s (${body.bytesSent} bytes sent)`);
      assert.ok(body.closedAfterMs <= bodyBound, `body dripper closed after ${body.closedAfterMs} ms (bound ${bodyBound})`);
      assert.ok(body.closedAfterMs >= SERVER_TIMEOUTS.requestMs - 1_000, `not before the request deadline (${body.closedAfterMs} ms)`);
      assert.match(body.received, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
      assert.ok(headers.closedAfterMs !== undefined, 'the header dripper was still connected after 45 s');
      assert.ok(headers.closedAfterMs <= headerBound, `header dripper closed after ${headers.closedAfterMs} ms (bound ${headerBound})`);
      // A normal request on a fresh connection is unaffected.
      assert.equal((await fetch(`${server.url}/livez`)).status, 200);
      process.stdout.write(
        `# body drip closed after ${body.closedAfterMs} ms, header drip after ${headers.closedAfterMs} ms, silent after ${silent.closedAfterMs} ms\n`,
      );
    } finally {
      await server.stop('SIGTERM');
    }
  });
});
