import { isRekeyError } from '../../src/errors.js';

/** How a batch of concurrent store calls ended: successes and errors by code. */
export interface RaceOutcome {
  ok: number;
  errors: Record<string, number>;
}

export async function tally(calls: Promise<unknown>[]): Promise<RaceOutcome> {
  const outcome: RaceOutcome = { ok: 0, errors: {} };
  for (const result of await Promise.allSettled(calls)) {
    if (result.status === 'fulfilled') {
      outcome.ok += 1;
    } else {
      const code = isRekeyError(result.reason) ? result.reason.code : `unexpected: ${String(result.reason)}`;
      outcome.errors[code] = (outcome.errors[code] ?? 0) + 1;
    }
  }
  return outcome;
}

export function merge(outcomes: RaceOutcome[]): RaceOutcome {
  const total: RaceOutcome = { ok: 0, errors: {} };
  for (const o of outcomes) {
    total.ok += o.ok;
    for (const [code, n] of Object.entries(o.errors)) total.errors[code] = (total.errors[code] ?? 0) + n;
  }
  return total;
}
