/**
 * The relay's Prometheus metrics, on the server's registry:
 *  - `rekey_relay_spool_bytes`, `rekey_relay_spool_payloads`: undelivered payloads on this node;
 *  - `rekey_relay_upstream_key_refused{org}`: 1 while the upstream refuses an organisation's
 *    upstream key (delivery holds), else 0 — alert on it;
 *  - `rekey_relay_forwarded_total{status}` and `rekey_relay_upstream_seconds`: upstream answers
 *    (status 0: no answer) and their time;
 *  - `rekey_relay_oldest_payload_seconds{org}`: age of the organisation's oldest undelivered
 *    payload (0 when none waits) — alert on it growing: the upstream is unreachable or failing;
 *  - `rekey_relay_dead_letters_total`, `rekey_relay_accepted_total`, `rekey_relay_refused_total{reason}`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface RelayMetrics {
  spool(bytes: number, payloads: number): void;
  setKeyRefused(orgId: string, refused: boolean): void;
  forwarded(status: number, seconds: number): void;
  deadLettered(): void;
  accepted(): void;
  refused(reason: string): void;
  /** Where the oldest-payload gauge reads its values from at each scrape. */
  oldestPayloads(read: () => Array<[orgId: string, seconds: number]>): void;
}

export function createRelayMetrics(registry: Registry = new Registry()): RelayMetrics {
  const spoolBytes = new Gauge({
    name: 'rekey_relay_spool_bytes',
    help: "Bytes of payloads in this node's relay spool, not yet delivered upstream",
    registers: [registry],
  });
  const spoolPayloads = new Gauge({
    name: 'rekey_relay_spool_payloads',
    help: "Payloads in this node's relay spool, not yet delivered upstream",
    registers: [registry],
  });
  const keyRefused = new Gauge({
    name: 'rekey_relay_upstream_key_refused',
    help: "1 while the upstream refuses the organization's upstream API key (delivery holds)",
    labelNames: ['org'] as const,
    registers: [registry],
  });
  const forwarded = new Counter({
    name: 'rekey_relay_forwarded_total',
    help: 'Upstream answers to forwarded payloads by status (0: no answer)',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const upstreamSeconds = new Histogram({
    name: 'rekey_relay_upstream_seconds',
    help: 'Time for the upstream to answer a forwarded payload',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'rekey_relay_dead_letters_total',
    help: 'Payloads the upstream refused for good (kept as dead letters)',
    registers: [registry],
  });
  const accepted = new Counter({ name: 'rekey_relay_accepted_total', help: 'Payloads accepted into the relay spool', registers: [registry] });
  const refused = new Counter({
    name: 'rekey_relay_refused_total',
    help: 'Payloads the relay refused to accept (spool full, disk failure)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  let readOldest: () => Array<[string, number]> = () => [];
  new Gauge({
    name: 'rekey_relay_oldest_payload_seconds',
    help: "Age of the organization's oldest payload not yet delivered upstream (0 when none waits)",
    labelNames: ['org'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [org, seconds] of readOldest()) this.set({ org }, seconds);
    },
  });
  return {
    spool: (bytes, payloads) => {
      spoolBytes.set(bytes);
      spoolPayloads.set(payloads);
    },
    setKeyRefused: (orgId, value) => keyRefused.set({ org: orgId }, value ? 1 : 0),
    forwarded: (status, seconds) => {
      forwarded.inc({ status: String(status) });
      upstreamSeconds.observe(seconds);
    },
    deadLettered: () => deadLetters.inc(),
    accepted: () => accepted.inc(),
    refused: (reason) => refused.inc({ reason }),
    oldestPayloads: (read) => {
      readOldest = read;
    },
  };
}
