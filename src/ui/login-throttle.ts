/**
 * Slows down password guessing at the sign-in form: after `maxFailures` failed sign-ins
 * within `windowMs` from one IP address, or for one email address, further attempts for that
 * IP or email are refused until the window has passed. Counting per email stops a botnet
 * guessing one account from many addresses; counting per IP stops one address guessing many
 * accounts. A successful sign-in clears the email's count.
 *
 * In memory and per node, like the sessions (src/ui/session-store.ts); bounded in size.
 */

export interface LoginThrottleOptions {
  /** Failures allowed per email within the window. Default 5. */
  maxFailuresPerEmail?: number;
  /** Failures allowed per IP within the window. Default 20. */
  maxFailuresPerIp?: number;
  /** Default 15 minutes. */
  windowMs?: number;
  /** Bound on tracked IPs and emails. Default 50,000 each. */
  maxEntries?: number;
  now?: () => number;
}

interface Window {
  count: number;
  startedAt: number;
}

export class LoginThrottle {
  private readonly byEmail = new Map<string, Window>();
  private readonly byIp = new Map<string, Window>();
  private readonly maxPerEmail: number;
  private readonly maxPerIp: number;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    this.maxPerEmail = options.maxFailuresPerEmail ?? 5;
    this.maxPerIp = options.maxFailuresPerIp ?? 20;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 50_000;
    this.now = options.now ?? Date.now;
  }

  /** Seconds to wait before another attempt is allowed, or 0 when it is allowed now. */
  retryAfterSeconds(ip: string, email: string): number {
    const now = this.now();
    const waits = [
      this.wait(this.byIp, ip, this.maxPerIp, now),
      this.wait(this.byEmail, normaliseEmail(email), this.maxPerEmail, now),
    ];
    return Math.max(...waits);
  }

  recordFailure(ip: string, email: string): void {
    const now = this.now();
    this.bump(this.byIp, ip, now);
    this.bump(this.byEmail, normaliseEmail(email), now);
  }

  recordSuccess(email: string): void {
    this.byEmail.delete(normaliseEmail(email));
  }

  private wait(map: Map<string, Window>, id: string, max: number, now: number): number {
    const window = map.get(id);
    if (window === undefined) return 0;
    const endsAt = window.startedAt + this.windowMs;
    if (endsAt <= now) {
      map.delete(id);
      return 0;
    }
    return window.count >= max ? Math.ceil((endsAt - now) / 1000) : 0;
  }

  private bump(map: Map<string, Window>, id: string, now: number): void {
    const window = map.get(id);
    if (window === undefined || window.startedAt + this.windowMs <= now) {
      if (map.size >= this.maxEntries) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      map.delete(id);
      map.set(id, { count: 1, startedAt: now });
    } else {
      window.count += 1;
    }
  }
}

function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
