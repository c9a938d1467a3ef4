/**
 * The whole rekey server (management API, intake, web UI) from `buildApp`, listening on
 * 127.0.0.1 with a free port, over a seeded deployment (ui-harness.ts).
 *
 * If `buildApp` does not mount the intake yet, the real intake plugin is mounted here so
 * the official client's metrics flow through the real intake into key usage.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { intakePlugin } from '../../src/intake/intake-plugin.js';
import { buildApp } from '../../src/server/app.js';
import type { UiDeployment } from './ui-harness.js';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  port: number;
  /** True when this helper mounted the intake because buildApp did not. */
  intakeMountedByTest: boolean;
  close(): Promise<void>;
}

export async function startServer(d: UiDeployment): Promise<RunningServer> {
  const app = await buildApp({ store: d.store, hasher: d.hasher, logger: false });
  const intakeMountedByTest = !app.hasRoute({ method: 'POST', url: '/api/v2/series' });
  if (intakeMountedByTest) await app.register(intakePlugin, { store: d.store, hasher: d.hasher, usageFlushIntervalMs: 200 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, port, url: `http://127.0.0.1:${port}`, intakeMountedByTest, close: () => app.close() };
}
