/**
 * The hosts the intake has seen, gathered in memory and written at most once per `intervalMs`
 * (default 1 s), on close, and before every read of the host list — so `GET /api/v1/hosts`
 * always includes the hosts of every accepted payload, while the write path pays one upsert
 * per host per second instead of one per request. (Points are different: a 202 means they are
 * committed. A host sighting is a summary that the next flush brings up to date.)
 */
import type { HostSighting } from '../points/point-store.js';

export interface HostSightingsOptions {
  /** Writes a batch of sightings (the intake passes its point writer, so they join a group commit). */
  write: (hosts: HostSighting[]) => Promise<void>;
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export class HostSightings {
  private pending = new Map<string, HostSighting>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: HostSightingsOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush().catch(() => {}), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Notes a sighting, merged with any pending one of the same (org, host). Synchronous, no I/O. */
  record(sighting: HostSighting): void {
    const key = `${sighting.orgId}\u0000${sighting.host}`;
    const seen = this.pending.get(key);
    if (seen === undefined) {
      this.pending.set(key, { ...sighting });
      return;
    }
    seen.firstSeen = Math.min(seen.firstSeen, sighting.firstSeen);
    seen.lastSeen = Math.max(seen.lastSeen, sighting.lastSeen);
    if (sighting.agentVersion !== null) seen.agentVersion = sighting.agentVersion;
    if (sighting.metadata !== null) seen.metadata = sighting.metadata;
  }

  /**
   * Writes what has accumulated; serialised, so batches never overlap. Rejects when the write
   * fails (the sightings are kept for the next attempt), so a read that flushes first fails too.
   */
  flush(): Promise<void> {
    const run = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.options.write(batch);
      } catch (error) {
        for (const sighting of batch) this.record(sighting);
        this.options.onError?.(error);
        throw error;
      }
    });
    this.flushing = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
