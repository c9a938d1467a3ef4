/**
 * DogStatsD events and service checks received since the last flush, held in memory until
 * the next one queues them (agent.ts): events to `/intake/`, service checks to
 * `/api/v1/check_run`, as the Datadog Agent sends them. Bounded, because any process on the
 * host can send them: past `max` of a kind, the newest are dropped and counted (shown in
 * `rekey-agent status` as `dogstatsd.dropped`).
 */
import type { AgentEvent, AgentServiceCheck } from './dogstatsd-events.js';

export const MAX_PENDING = 10_000;

export class PendingEvents {
  private events: AgentEvent[] = [];
  private checks: AgentServiceCheck[] = [];
  dropped = 0;

  constructor(private readonly max = MAX_PENDING) {}

  addEvent(event: AgentEvent): void {
    if (this.events.length >= this.max) this.dropped++;
    else this.events.push(event);
  }

  addServiceCheck(check: AgentServiceCheck): void {
    if (this.checks.length >= this.max) this.dropped++;
    else this.checks.push(check);
  }

  /** Removes and returns what is pending. */
  take(): { events: AgentEvent[]; checks: AgentServiceCheck[] } {
    const taken = { events: this.events, checks: this.checks };
    this.events = [];
    this.checks = [];
    return taken;
  }
}
