/**
 * The relay's counting of forwarded bodies that need the counting worker (counting-thread.ts:
 * those decoding to more than 64 KiB; a small body is counted at once, on the event loop, and
 * never waits here), one body at a time per node, the keys taking turns, with a bound on what
 * one key may have waiting.
 *
 * Why: counting a body is decompressing it (up to 8 MiB) and reading every byte, and a key
 * without a points/min limit has it counted after its 202 — so nothing slowed the sender down.
 * A hostile try (2026-12-01, load ~6–7, built server, 4 connections of one key sending 8 KiB of
 * gzip that inflate to 8 MiB of `0,0,…` to /api/v1/series): 478 requests in 10 s were each
 * acknowledged at once and all counted together — the server's RSS reached 1,880 MiB (every
 * body inflating at the same time) and /healthz p99 928 ms, against 226 MiB and 96 ms before
 * the counting lost the intake's caps. With this queue, in the same try (A/B in one run, load
 * 8.3–8.8): RSS 218 MiB, /healthz p99 166 ms (the release before the counting change: 221 MiB,
 * 236 ms), and the key had 120 bodies acknowledged in 10 s, the rest answered 429. Here:
 *   - one body is counted at a time (so one inflated body is in memory, not hundreds), with a
 *     turn of the event loop between two (other requests are served in between);
 *   - keys take turns (round robin), so a points-limited key waiting for its count before its
 *     202 waits behind at most one body of each other key, not behind a hostile key's backlog;
 *   - a key with `maxWaitingPerKey` bodies waiting gets 429 INTAKE_RATE_LIMITED before its next
 *     body is read (intake-relay.ts), so it sends no faster than its bodies can be counted.
 *     An agent's body of real points counts in ~40 µs (forwarded-usage.ts), so a whole fleet on
 *     one key never waits near the bound; only bodies costly to count fill it.
 * A large body is counted on a worker thread (counting-thread.ts), so the event loop is not
 * held while it is; the queue still bounds the memory and the worker's backlog.
 */

/** Bodies one key may have waiting to be counted (the one being counted included). */
export const MAX_WAITING_PER_KEY = 32;

type Task = () => Promise<void>;

export class CountingQueue {
  /** Waiting tasks per key, keys in turn order (Map keeps insertion order). */
  private readonly waiting = new Map<string, Task[]>();
  /** Tasks per key not finished yet (waiting or running). */
  private readonly pending = new Map<string, number>();
  private running = false;

  constructor(readonly maxWaitingPerKey = MAX_WAITING_PER_KEY) {}

  /** Whether `keyId` has as many bodies waiting as it may (its next request is refused). */
  full(keyId: string): boolean {
    return (this.pending.get(keyId) ?? 0) >= this.maxWaitingPerKey;
  }

  /** Bodies of `keyId` waiting or being counted. */
  waitingOf(keyId: string): number {
    return this.pending.get(keyId) ?? 0;
  }

  /** Runs `count` in `keyId`'s turn; resolves or rejects as it does. */
  run<T>(keyId: string, count: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Its key's count goes down before the caller hears, so a caller sees its own body gone.
      const task: Task = () =>
        Promise.resolve()
          .then(count)
          .finally(() => this.finished(keyId))
          .then(resolve, reject);
      this.pending.set(keyId, (this.pending.get(keyId) ?? 0) + 1);
      const queue = this.waiting.get(keyId);
      if (queue === undefined) this.waiting.set(keyId, [task]);
      else queue.push(task);
      if (!this.running) void this.drain();
    });
  }

  private finished(keyId: string): void {
    const left = (this.pending.get(keyId) ?? 1) - 1;
    if (left > 0) this.pending.set(keyId, left);
    else this.pending.delete(keyId);
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        const next = this.waiting.entries().next();
        if (next.done === true) return;
        const [keyId, queue] = next.value;
        const task = queue.shift()!;
        // The key goes to the end of the turn order (or leaves it, with nothing left).
        this.waiting.delete(keyId);
        if (queue.length > 0) this.waiting.set(keyId, queue);
        await task();
        // A turn of the event loop between two bodies: I/O callbacks run before the next count.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
  }
}
