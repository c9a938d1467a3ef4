/**
 * Waits for hosts to be seen using the new key, with ONE shared poller however many hosts
 * wait (one request per tick, not one per host), so 1,000 hosts cost the server one query a tick.
 *
 * With per-key host usage (rekey): a host is verified when the new key's usage shows it with
 * a `last_seen` newer than what the usage showed just before its deploy (absent counts as
 * never). Comparing the server's own timestamps with each other needs no clock agreement
 * between this machine and the server.
 *
 * Fallback (Datadog, no per-key usage): `GET /api/v1/hosts` shows the host reported after its
 * deploy AND the host's config (read through its transport) holds the new key's last 4.
 */
import type { DatadogClient } from './datadog-client.js';

export type VerifiedBy = 'host-usage' | 'v1-hosts+config' | 'v1-hosts';

export interface VerifyRequest {
  host: string;
  /** Local time the config write started (fallback compares v1 last_reported_time to it). */
  deployedAt: number;
  /** The new key's last_seen for this host just before the deploy (0 if unseen). */
  baseline: number;
  deadline: number;
  configuredLast4: () => Promise<string | undefined>;
}

export type VerifyResult = { ok: true; by: VerifiedBy; at: number } | { ok: false; reason: string };

interface Waiter extends VerifyRequest {
  resolve: (result: VerifyResult) => void;
}

export class HostVerifier {
  private readonly waiters = new Set<Waiter>();
  private latest = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  /** False once the server answered 404 on the host-usage endpoint. */
  hostUsage = true;

  constructor(
    private readonly client: DatadogClient,
    private readonly newKeyId: string,
    private readonly newKeyLast4: string,
    private readonly pollIntervalMs: number,
  ) {}

  /** Reads the new key's usage once (the baseline for the first deploys). */
  async prime(): Promise<void> {
    const usage = await this.client.keyHosts(this.newKeyId);
    if (usage === undefined) this.hostUsage = false;
    else this.latest = new Map(usage.map((entry) => [entry.host, entry.lastSeen]));
  }

  /** The host's last_seen on the new key in the latest poll (0 if unseen): take it just before deploying. */
  baselineFor(host: string): number {
    return this.latest.get(host) ?? 0;
  }

  wait(request: VerifyRequest): Promise<VerifyResult> {
    return new Promise((resolve) => {
      this.waiters.add({ ...request, resolve });
      this.schedule(0);
    });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters) waiter.resolve({ ok: false, reason: 'rotation stopped' });
    this.waiters.clear();
  }

  private schedule(delay: number): void {
    if (this.timer || this.polling || this.waiters.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delay);
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      if (this.hostUsage) await this.pollHostUsage();
      if (!this.hostUsage) await this.pollV1Hosts();
    } catch {
      // A failed poll is retried on the next tick; the deadline still bounds every host.
    } finally {
      this.polling = false;
    }
    const now = Date.now();
    for (const waiter of this.waiters) {
      if (now >= waiter.deadline) this.settle(waiter, { ok: false, reason: 'not seen with the new key before the verify timeout' });
    }
    this.schedule(this.pollIntervalMs);
  }

  private async pollHostUsage(): Promise<void> {
    const usage = await this.client.keyHosts(this.newKeyId);
    if (usage === undefined) {
      this.hostUsage = false;
      return;
    }
    this.latest = new Map(usage.map((entry) => [entry.host, entry.lastSeen]));
    for (const waiter of this.waiters) {
      const seen = this.latest.get(waiter.host);
      if (seen !== undefined && seen > waiter.baseline) this.settle(waiter, { ok: true, by: 'host-usage', at: seen });
    }
  }

  private async pollV1Hosts(): Promise<void> {
    const hosts = await this.client.v1Hosts();
    const reported = new Map<string, number>();
    for (const host of hosts) for (const name of [host.name, ...host.aliases]) reported.set(name, host.lastReported);
    await Promise.all(
      [...this.waiters].map(async (waiter) => {
        const at = reported.get(waiter.host);
        if (at === undefined || at < waiter.deployedAt) return;
        const last4 = await waiter.configuredLast4().catch(() => undefined);
        if (last4 === undefined) this.settle(waiter, { ok: true, by: 'v1-hosts', at });
        else if (last4 === this.newKeyLast4) this.settle(waiter, { ok: true, by: 'v1-hosts+config', at });
      }),
    );
  }

  private settle(waiter: Waiter, result: VerifyResult): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.resolve(result);
  }
}
