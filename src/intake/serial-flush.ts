/**
 * The flush discipline of the intake's in-memory summaries (write-behind.ts for key usage and
 * host sightings, usage-minutes.ts for per-key minutes): flushes run one after another, never
 * overlapping; a batch that fails to write is put back for the next attempt, counted, reported
 * to `onError`, and rejects the `flush()` that asked for it — so a read that flushes first then
 * fails instead of answering without the batch.
 */
export interface TakenBatch {
  write: () => Promise<void>;
  /** Undoes the taking: merges the batch back with anything recorded since. */
  putBack: () => void;
}

export class SerialFlush {
  private flushing: Promise<void> = Promise.resolve();
  readonly stats = { flushes: 0, failures: 0 };

  constructor(private readonly onError?: (error: unknown) => void) {}

  /** Once the flushes before it are done, `take` takes a batch (or nothing to write) and it is written. */
  run(take: () => TakenBatch | undefined): Promise<void> {
    const run = this.flushing.then(async () => {
      const batch = take();
      if (batch === undefined) return;
      try {
        await batch.write();
        this.stats.flushes += 1;
      } catch (error) {
        this.stats.failures += 1;
        batch.putBack();
        this.onError?.(error);
        throw error;
      }
    });
    this.flushing = run.catch(() => {});
    return run;
  }
}
