/**
 * Hand-made zstd frames for tests (RFC 8878): nothing in Node 20 compresses zstd, and the
 * intake's tests need valid frames (raw blocks) and hostile ones (RLE bombs, huge windows).
 */
const MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const MAX_BLOCK = 128 * 1024;

function blockHeader(last: boolean, type: 0 | 1 | 2, size: number): Buffer {
  const value = (size << 3) | (type << 1) | (last ? 1 : 0);
  return Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]);
}

/** A frame holding `data` in raw (stored) blocks; window 128 KiB, no content size. */
export function zstdRawFrame(data: Buffer): Buffer {
  const parts: Buffer[] = [MAGIC, Buffer.from([0x00, 7 << 3])];
  if (data.length === 0) parts.push(blockHeader(true, 0, 0));
  for (let at = 0; at < data.length; at += MAX_BLOCK) {
    const chunk = data.subarray(at, at + MAX_BLOCK);
    parts.push(blockHeader(at + MAX_BLOCK >= data.length, 0, chunk.length), chunk);
  }
  return Buffer.concat(parts);
}

/** A frame that expands to `totalBytes` of `byte` with RLE blocks: 4 bytes per 128 KiB. */
export function zstdRleBomb(totalBytes: number, byte = 0x20): Buffer {
  const blocks = Math.ceil(totalBytes / MAX_BLOCK);
  const parts: Buffer[] = [MAGIC, Buffer.from([0x00, 7 << 3])];
  for (let i = 0; i < blocks; i++) parts.push(blockHeader(i === blocks - 1, 1, MAX_BLOCK), Buffer.from([byte]));
  return Buffer.concat(parts);
}

/** A frame header declaring a window of ~2 GB, followed by one empty raw block. */
export function zstdHugeWindowFrame(): Buffer {
  // window descriptor: exponent 21 → 2^31 bytes
  return Buffer.concat([MAGIC, Buffer.from([0x00, 21 << 3]), blockHeader(true, 0, 0)]);
}
