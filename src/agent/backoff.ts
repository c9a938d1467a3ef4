/**
 * Exponential backoff with full jitter: attempt n waits a random time in
 * [delay/2, delay] where delay = min(base · 2^n, max). Defaults 1 s … 64 s, as the issue asks;
 * tests shorten them with `REKEY_AGENT_BACKOFF_BASE_MS` / `REKEY_AGENT_BACKOFF_MAX_MS`.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 64_000 };

/** Backoff settings from the environment, else the defaults. */
export function backoffFromEnv(env: NodeJS.ProcessEnv = process.env): BackoffOptions {
  const read = (name: string, fallback: number) => {
    const value = Number(env[name]);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  const baseMs = read('REKEY_AGENT_BACKOFF_BASE_MS', DEFAULT_BACKOFF.baseMs);
  return { baseMs, maxMs: Math.max(baseMs, read('REKEY_AGENT_BACKOFF_MAX_MS', DEFAULT_BACKOFF.maxMs)) };
}

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay in ms; each call doubles the ceiling up to `maxMs`. */
  next(): number {
    const ceiling = Math.min(this.options.baseMs * 2 ** Math.min(this.attempt, 30), this.options.maxMs);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}
