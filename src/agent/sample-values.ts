/**
 * The values of one histogram context while its bucket is open: 8 bytes a value in
 * Float64Array chunks that double up to 4,096 values and are never copied while growing.
 *
 * A plain `number[]` re-allocates and copies its backing store as it grows, and under
 * DogStatsD load (thousands of timings a second, held for the 10 s bucket) every discarded
 * copy lands in the old generation until the next full GC: that garbage was a visible part of
 * the agent's resident memory under load (bench/agent-resources.ts).
 *
 * @example
 *   const values = new SampleValues();
 *   values.push(12); values.push(3);
 *   values.sorted(); // Float64Array [3, 12]
 */
const FIRST_CHUNK = 8;
const MAX_CHUNK = 4096;

export class SampleValues {
  private readonly full: Float64Array[] = [];
  private last = new Float64Array(FIRST_CHUNK);
  private used = 0;
  length = 0;

  push(value: number): void {
    if (this.used === this.last.length) {
      this.full.push(this.last);
      this.last = new Float64Array(Math.min(this.last.length * 2, MAX_CHUNK));
      this.used = 0;
    }
    this.last[this.used++] = value;
    this.length++;
  }

  /** Every value, in ascending numeric order, as one new array. */
  sorted(): Float64Array {
    const out = new Float64Array(this.length);
    let offset = 0;
    for (const chunk of this.full) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    out.set(this.last.subarray(0, this.used), offset);
    return out.sort(); // typed arrays sort numerically
  }
}
