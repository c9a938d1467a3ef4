/**
 * An HTTP test double of the Datadog v2 API-key endpoints that rotation uses, for UNIT tests of
 * plan, resume and fallback logic only (the end-to-end tests run the real rekey server).
 * Real HTTP on 127.0.0.1 port 0; checks the DD-API-KEY/DD-APPLICATION-KEY headers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '../../../src/keys/key-format.js';

export interface DoubleKey {
  id: string;
  name: string;
  key: string;
  status: 'active' | 'revoked';
  created_at: string;
  hosts: Map<string, { first: number; last: number; points: number }>;
}

export class DatadogDouble {
  readonly keys: DoubleKey[] = [];
  readonly appKey = generateKey('app');
  /** Endpoints that answer 404, as Datadog does for rekey's extensions. */
  hostUsage = true;
  roll = true;
  readonly requests: string[] = [];
  v1Hosts = new Map<string, number>();
  private server: Server | undefined;
  url = '';

  addKey(name: string): DoubleKey {
    const key: DoubleKey = {
      id: `key-${this.keys.length + 1}`,
      name,
      key: generateKey('api'),
      status: 'active',
      created_at: new Date(Date.now() + this.keys.length).toISOString(),
      hosts: new Map(),
    };
    this.keys.push(key);
    return key;
  }

  /** Records that `host` used `key` at `at` (what the intake would do). */
  use(key: DoubleKey | string, host: string, at = Date.now()): void {
    const found = typeof key === 'string' ? this.keys.find((k) => k.key === key) : key;
    if (!found) throw new Error('unknown key');
    const entry = found.hosts.get(host) ?? { first: at, last: at, points: 0 };
    entry.last = Math.max(entry.last, at);
    entry.points++;
    found.hosts.set(host, entry);
    this.v1Hosts.set(host, Math.floor(at / 1000));
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        this.requests.push(`${req.method} ${url.pathname}`);
        const send = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        const apiKey = req.headers['dd-api-key'];
        if (req.headers['dd-application-key'] !== this.appKey || !this.keys.some((k) => k.key === apiKey && k.status === 'active')) {
          return send(403, { errors: ['Forbidden'] });
        }
        const parts = url.pathname.split('/').filter(Boolean);
        if (url.pathname === '/api/v1/hosts') {
          return send(200, { host_list: [...this.v1Hosts].map(([name, at]) => ({ name, aliases: [], last_reported_time: at })) });
        }
        if (parts[0] !== 'api' || parts[1] !== 'v2' || parts[2] !== 'api_keys') return send(404, { errors: ['Not found'] });
        const id = parts[3];
        const key = this.keys.find((k) => k.id === id);
        if (id === undefined) {
          if (req.method === 'GET') {
            const page = Number(url.searchParams.get('page[number]') ?? 0);
            const size = Number(url.searchParams.get('page[size]') ?? 10);
            return send(200, { data: this.keys.slice(page * size, (page + 1) * size).map((k) => this.json(k, false)) });
          }
          if (req.method === 'POST') {
            const created = this.addKey(JSON.parse(body).data.attributes.name);
            return send(201, { data: this.json(created, true) });
          }
        }
        if (!key) return send(404, { errors: ['API key not found'] });
        if (parts[4] === 'hosts' && req.method === 'GET') {
          if (!this.hostUsage) return send(404, { errors: ['Not found'] });
          return send(200, {
            data: [...key.hosts].map(([host, u]) => ({
              type: 'api_key_hosts',
              id: host,
              attributes: { host, first_seen: new Date(u.first).toISOString(), last_seen: new Date(u.last).toISOString(), points: u.points },
            })),
          });
        }
        if (parts[4] === 'roll' && req.method === 'POST') {
          if (!this.roll) return send(404, { errors: ['Not found'] });
          const created = this.addKey(JSON.parse(body).data.attributes.name);
          return send(201, { data: this.json(created, true) });
        }
        if (parts.length === 4 && req.method === 'GET') return send(200, { data: this.json(key, false) });
        if (parts.length === 4 && req.method === 'DELETE') {
          if (this.keys.filter((k) => k.status === 'active').length === 1 && key.status === 'active') {
            return send(400, { errors: ["It isn't possible to have zero API keys. Create a new API key before revoking this one."] });
          }
          key.status = 'revoked';
          res.writeHead(204);
          return res.end();
        }
        return send(404, { errors: ['Not found'] });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private json(key: DoubleKey, withKey: boolean) {
    return {
      type: 'api_keys',
      id: key.id,
      attributes: { name: key.name, last4: key.key.slice(-4), created_at: key.created_at, status: key.status, ...(withKey ? { key: key.key } : {}) },
    };
  }
}
