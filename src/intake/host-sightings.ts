/**
 * The hosts the intake has seen, gathered in memory and written at most once per `intervalMs`
 * (default 1 s), on close, and before every read of the host list — so `GET /api/v1/hosts`
 * always includes the hosts of every accepted payload, while the write path pays one upsert
 * per host per second instead of one per request. (Points are different: a 202 means they are
 * committed. A host sighting is a summary that the next flush brings up to date.)
 * The buffering is the shared WriteBehind (write-behind.ts), also used for key usage.
 */
import type { HostSighting } from '../points/point-store.js';
import { WriteBehind } from './write-behind.js';

export interface HostSightingsOptions {
  /** Writes a batch of sightings (the intake passes its point writer, so they join a group commit). */
  write: (hosts: HostSighting[]) => Promise<void>;
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export class HostSightings extends WriteBehind<HostSighting> {
  constructor(options: HostSightingsOptions) {
    super({
      ...options,
      keyOf: (s) => `${s.orgId}\u0000${s.host}`,
      merge: (seen, s) => {
        seen.firstSeen = Math.min(seen.firstSeen, s.firstSeen);
        seen.lastSeen = Math.max(seen.lastSeen, s.lastSeen);
        if (s.agentVersion !== null) seen.agentVersion = s.agentVersion;
        if (s.metadata !== null) seen.metadata = s.metadata;
      },
    });
  }
}
