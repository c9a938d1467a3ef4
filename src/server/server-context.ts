/**
 * What every route plugin of the server needs, built once in `buildApp`.
 */
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Store } from '../store/store.js';
import type { Authenticator } from './management-auth.js';
import type { ServerMetrics } from './server-metrics.js';

export interface ServerContext {
  store: Store;
  hasher: KeyHasher;
  auth: Authenticator;
  metrics: ServerMetrics;
  /** The server's clock (expiry checks, `used_in_last_24_hours`); injectable for tests. */
  now: () => Date;
  /** Why this node serves in a degraded way (e.g. the relay's upstream refuses its key): `/healthz` lists them. */
  problems?: () => string[];
}
