/**
 * Decodes a body by its Content-Encoding — gzip, deflate (zlib), zstd — stopping as soon as
 * the output would pass `limit` bytes, so a decompression bomb costs at most `limit` bytes
 * of memory and the time to produce them.
 *
 * gzip/deflate: a body that inflates to at most 256 KiB (what agents send: an Agent flush is
 * ~1–20 KiB compressed) is inflated synchronously, bounded by `maxOutputLength`; a larger one
 * (or a broken one, for its error) by a Node zlib stream (inflating on the thread pool, off the
 * event loop), its output counted chunk by chunk and the stream destroyed the moment it grows
 * past the limit. Why the two: measured on this 2-core machine (load ~8, 2026-11-30), a
 * 1,270-byte Agent payload cost 99–195 µs through a stream and 44–47 µs synchronously — the
 * stream's set-up and thread-pool round trips were ~10 % of the shipped server's protobuf
 * intake profile; 256 KiB of output blocks the event loop for well under a millisecond.
 *
 * `inspect`, when given, sees every decompressed chunk as it is produced and may throw to
 * stop the decompression there: the intake counts a JSON body's values this way
 * (payload-caps.ts), so 62 MiB of `{},` is refused after its first megabyte instead of
 * being inflated, buffered and parsed whole.
 * zstd: Node 20's zlib has no zstd, so fzstd's streaming `Decompress`, fed in slices with the
 * output counted. fzstd allocates each frame's window as its header declares (up to 2 GB),
 * so every frame header is checked first (`checkZstdFrames`) and a frame whose window or
 * content size exceeds the limit is refused before fzstd sees it.
 */
import { createGunzip, createInflate, gunzipSync, inflateSync } from 'node:zlib';
import { Decompress } from 'fzstd';
import { rekeyError, type RekeyError } from '../errors.js';

/** Output chunk of the zlib stream: each is seen by `inspect` between thread-pool rounds. */
const ZLIB_CHUNK = 64 * 1024;

export type ContentEncoding = 'identity' | 'gzip' | 'deflate' | 'zstd';

/** The encoding named by a Content-Encoding header, or UNSUPPORTED_ENCODING. */
export function parseContentEncoding(header: string | undefined): ContentEncoding {
  const value = (header ?? '').trim().toLowerCase();
  switch (value) {
    case '':
    case 'identity':
      return 'identity';
    case 'gzip':
    case 'x-gzip':
      return 'gzip';
    case 'deflate':
      return 'deflate';
    case 'zstd':
    case 'zstd1': // the name Datadog's API spec (and its clients) use
      return 'zstd';
    default:
      throw rekeyError('UNSUPPORTED_ENCODING', { encoding: value.slice(0, 40) });
  }
}

export type ChunkInspector = (chunk: Uint8Array) => void;

export async function decompressBody(body: Buffer, encoding: ContentEncoding, limit: number, inspect?: ChunkInspector): Promise<Buffer> {
  const tooLarge = () => rekeyError('PAYLOAD_TOO_LARGE', { what: 'decompressed payload', limit });
  switch (encoding) {
    case 'identity':
      return body;
    case 'gzip':
    case 'deflate': {
      const small = inflateSmall(body, encoding, limit);
      if (small === undefined) return inflateZlib(body, encoding, limit, tooLarge, inspect);
      inspect?.(small);
      return small;
    }
    case 'zstd':
      return decompressZstd(body, limit, tooLarge, inspect);
  }
}

/** Output up to which a gzip/deflate body is inflated synchronously (see the header). */
const SYNC_INFLATE_MAX_OUTPUT = 256 * 1024;

/** The inflated body when it fits in SYNC_INFLATE_MAX_OUTPUT (and the limit); otherwise, or when broken, undefined. */
function inflateSmall(body: Buffer, encoding: 'gzip' | 'deflate', limit: number): Buffer | undefined {
  try {
    return (encoding === 'gzip' ? gunzipSync : inflateSync)(body, { maxOutputLength: Math.min(limit, SYNC_INFLATE_MAX_OUTPUT) });
  } catch {
    // Too large for this path, or corrupt: the stream path inflates it, or names the error.
    return undefined;
  }
}

function inflateZlib(body: Buffer, encoding: 'gzip' | 'deflate', limit: number, tooLarge: () => RekeyError, inspect?: ChunkInspector): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = encoding === 'gzip' ? createGunzip({ chunkSize: ZLIB_CHUNK }) : createInflate({ chunkSize: ZLIB_CHUNK });
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      stream.destroy();
      reject(error);
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      total += chunk.length;
      if (total > limit) return fail(tooLarge());
      try {
        inspect?.(chunk);
      } catch (error) {
        return fail(error);
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
    stream.on('error', (error) => fail(rekeyError('CORRUPT_ENCODING', { encoding }, { cause: error })));
    stream.end(body);
  });
}

/** Input slice fed to fzstd between yields to the event loop. */
const ZSTD_SLICE = 64 * 1024;

async function decompressZstd(body: Buffer, limit: number, tooLarge: () => RekeyError, inspect?: ChunkInspector): Promise<Buffer> {
  checkZstdFrames(body, limit);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let overflow = false;
  let refused: unknown;
  const stream = new Decompress((data) => {
    total += data.length;
    if (total > limit) {
      overflow = true;
      chunks.length = 0;
      // Throwing out of the handler aborts fzstd's push at once, mid-input.
      throw new Error('zstd output limit reached');
    }
    try {
      inspect?.(data);
    } catch (error) {
      refused = error;
      chunks.length = 0;
      throw error;
    }
    chunks.push(data);
  });
  try {
    for (let offset = 0; offset < body.length && !overflow && refused === undefined; offset += ZSTD_SLICE) {
      const end = Math.min(offset + ZSTD_SLICE, body.length);
      stream.push(body.subarray(offset, end), end === body.length);
      // A large payload is decoded in slices so other requests are served in between.
      if (end < body.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (body.length === 0) throw new Error('empty zstd body');
  } catch (error) {
    if (overflow) throw tooLarge();
    if (refused !== undefined) throw refused;
    throw rekeyError('CORRUPT_ENCODING', { encoding: 'zstd' }, { cause: error });
  }
  if (overflow) throw tooLarge();
  return Buffer.concat(chunks, total);
}

/**
 * Walks every zstd frame in `body` (frame header, then block headers) without decoding, and
 * refuses frames that would make fzstd allocate more than `limit` bytes or are malformed.
 * Format: RFC 8878 §3.1.
 */
export function checkZstdFrames(body: Buffer, limit: number): void {
  const corrupt = (why: string) => rekeyError('CORRUPT_ENCODING', { encoding: 'zstd' }, { cause: new Error(why) });
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw corrupt('truncated magic number');
    const magic = body.readUInt32LE(at);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // skippable frame: magic, 4-byte size, data
      if (at + 8 > body.length) throw corrupt('truncated skippable frame');
      at += 8 + body.readUInt32LE(at + 4);
      continue;
    }
    if (magic !== 0xfd2fb528) throw corrupt('bad magic number');
    at += 4;
    if (at >= body.length) throw corrupt('truncated frame header');
    const descriptor = body[at]!;
    at += 1;
    const contentSizeFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const hasChecksum = (descriptor >> 2) & 1;
    const dictionaryIdFlag = descriptor & 3;
    let windowSize = 0;
    if (!singleSegment) {
      if (at >= body.length) throw corrupt('truncated window descriptor');
      const windowDescriptor = body[at]!;
      at += 1;
      const windowBase = 2 ** (10 + (windowDescriptor >> 3));
      windowSize = windowBase + (windowBase / 8) * (windowDescriptor & 7);
    }
    at += [0, 1, 2, 4][dictionaryIdFlag]!;
    const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][contentSizeFlag]!;
    if (at + contentSizeBytes > body.length) throw corrupt('truncated frame content size');
    let contentSize = 0;
    if (contentSizeBytes === 1) contentSize = body[at]!;
    else if (contentSizeBytes === 2) contentSize = body.readUInt16LE(at) + 256;
    else if (contentSizeBytes === 4) contentSize = body.readUInt32LE(at);
    else if (contentSizeBytes === 8) contentSize = Number(body.readBigUInt64LE(at));
    at += contentSizeBytes;
    if (windowSize > limit || contentSize > limit) throw rekeyError('PAYLOAD_TOO_LARGE', { what: 'decompressed payload', limit });
    // blocks: 3-byte header (last flag, type, size); RLE blocks carry one byte.
    for (;;) {
      if (at + 3 > body.length) throw corrupt('truncated block header');
      const header = body[at]! | (body[at + 1]! << 8) | (body[at + 2]! << 16);
      at += 3;
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw corrupt('reserved block type');
      at += type === 1 ? 1 : size;
      if (at > body.length) throw corrupt('truncated block');
      if (last) break;
    }
    if (hasChecksum) at += 4;
    if (at > body.length) throw corrupt('truncated checksum');
  }
}
