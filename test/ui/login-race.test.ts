/**
 * Issue 15 row 2 against a real `rekey server` process: 99 wrong passwords and then the right
 * one, sent in parallel over 100 connections that are all open before the first byte is
 * written. The throttle counts an attempt before the password is checked, so only the free
 * attempts are checked and the right password, arriving last, does not sign in. (Before:
 * every attempt passed the throttle while the others were still hashing, and the right one
 * signed in.) Row 8 on the same server: from another loopback address (127.0.0.2) the user
 * signs in at once.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startRekeyServer, type RunningServer } from './ui-server.js';

/** The login form's CSRF token and cookie, from GET /login. */
async function loginForm(url: string): Promise<{ csrf: string; cookie: string }> {
  const response = await fetch(`${url}/login`);
  const html = await response.text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  if (csrf === undefined || cookie === '') throw new Error('no login form');
  return { csrf, cookie };
}

function postLogin(url: string, form: { csrf: string; cookie: string }, email: string, password: string): string {
  const body = new URLSearchParams({ _csrf: form.csrf, email, password }).toString();
  const { host } = new URL(url);
  return [
    'POST /login HTTP/1.1',
    `Host: ${host}`,
    'Content-Type: application/x-www-form-urlencoded',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Cookie: ${form.cookie}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** An open connection; `status` resolves with the response's status code once it is read. */
async function open(url: string, localAddress = '127.0.0.1'): Promise<{ socket: Socket; status: Promise<number> }> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const status = new Promise<number>((resolve, reject) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (match) {
        resolve(Number(match[1]));
        socket.destroy();
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before a status line')));
  });
  return { socket, status };
}

describe('sign-in throttle under parallel attempts (issue 15 row 2), real server', () => {
  let server: RunningServer;
  before(async () => {
    server = await startRekeyServer();
  });
  after(async () => {
    await server?.close();
  });

  it('99 wrong passwords + the right one in parallel: at most 3 checked, the right one does not sign in', async () => {
    const form = await loginForm(server.url);
    const connections = await Promise.all(Array.from({ length: 100 }, () => open(server.url)));
    // Every connection is open; now all 100 requests are written in one go, the right one last.
    const started = performance.now();
    connections.forEach(({ socket }, i) => {
      socket.write(postLogin(server.url, form, server.admin.email, i < 99 ? `wrong-${i}` : server.admin.password));
    });
    const statuses = await Promise.all(connections.map((c) => c.status));
    const seconds = (performance.now() - started) / 1000;
    const count = (code: number) => statuses.filter((s) => s === code).length;
    // After the 3 free failures the pair waits 1 s, then 2 s, 4 s … (login-throttle.ts): on a
    // loaded machine (CI, load ~11: the 100 answers took 2.3 s) the throttle rightly lets one
    // more attempt through per delay that passed while the requests were still being served.
    const laterAttempts = Math.floor(Math.log2(seconds + 1));
    assert.ok(count(401) <= 3 + laterAttempts, `passwords checked: ${count(401)} in ${seconds.toFixed(2)} s (at most the 3 free attempts + ${laterAttempts})`);
    if (laterAttempts === 0) {
      assert.equal(statuses[99], 429, 'the right password, sent among 99 wrong ones, did not sign in');
    } else {
      // The right one may be one of those later attempts only once a delay passed.
      assert.ok(statuses[99] === 429 || statuses[99] === 303, `the right password: ${statuses[99]}`);
    }
    assert.equal(count(401) + count(429) + (statuses[99] === 303 ? 1 : 0), 100, `statuses: ${JSON.stringify(statuses)}`);
  });

  it('row 8: meanwhile the user signs in at once from another address', async () => {
    const form = await loginForm(server.url);
    const connection = await open(server.url, '127.0.0.2');
    connection.socket.write(postLogin(server.url, form, server.admin.email, server.admin.password));
    assert.equal(await connection.status, 303);
  });
});
