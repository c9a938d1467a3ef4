/**
 * A light HTTP client on node:http keep-alive connections, for benchmarks that time single
 * requests: undici's fetch allocates enough that its own GC pauses showed up in the p99 of the
 * process that measured (bench/management-latency.ts), so latency is measured with this.
 */
import { Agent, request as httpRequest } from 'node:http';

export interface Answer {
  status: number;
  body: string;
}

export interface KeepAliveClient {
  send(path: string, options?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer>;
  close(): void;
}

/** A client of `base` (http://host:port) with at most `connections` keep-alive connections. */
export function keepAliveClient(base: string, connections = 1): KeepAliveClient {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const send: KeepAliveClient['send'] = (path, options = {}) =>
    new Promise((resolve, reject) => {
      const headers = { ...options.headers, ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }) };
      const request = httpRequest(`${base}${path}`, { method: options.method ?? 'GET', headers, agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end(options.body);
    });
  return { send, close: () => agent.destroy() };
}
