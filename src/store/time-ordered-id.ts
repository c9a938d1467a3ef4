/**
 * UUIDv7 ids (RFC 9562) that sort by creation: a 48-bit millisecond timestamp, then a 12-bit
 * counter that keeps ids made in the same millisecond in order, then random bits. Audit
 * events use them so "newest first" is exact even when several events share a timestamp
 * (one transaction writes several), without a dialect-specific auto-increment column.
 */
import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/** Random bytes drawn 4 KiB at a time: one system call per 256 ids, not one each (the intake makes one per chunk). */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function random16(): Buffer {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + 16));
  poolOffset += 16;
  return bytes;
}

/** A new UUIDv7, strictly greater than every earlier one from this process. */
export function timeOrderedId(at: number = Date.now()): string {
  let ms = Math.max(Math.floor(at), lastMs);
  if (ms === lastMs) {
    counter += 1;
    if (counter > 0xfff) {
      ms += 1;
      counter = 0;
    }
  } else {
    counter = 0;
  }
  lastMs = ms;
  const bytes = random16();
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
