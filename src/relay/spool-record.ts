/**
 * One spooled payload as a journal record (the body of a point-journal.ts record, which adds
 * the salt, length and CRC): `u8 version | 16-byte id | u32 meta length | meta JSON | body`.
 * The body is kept exactly as the sender sent it (still compressed), so the relay forwards it
 * byte for byte. The meta never holds the sender's key: the key header is dropped on arrival.
 */
import { randomUUID } from 'node:crypto';
import type { PayloadKind } from './upstream-site.js';

const VERSION = 1;
const ID_BYTES = 16;

export interface SpooledPayload {
  /** Random, hex: how acknowledgements and dead letters name the payload. */
  id: string;
  orgId: string;
  kind: PayloadKind;
  /** Path and query as received, without `api_key`. */
  path: string;
  /** The headers forwarded upstream (forwarded-headers.ts), in order. */
  headers: Array<[string, string]>;
  /** Epoch ms when the relay accepted the payload. */
  receivedAt: number;
  body: Buffer;
}

/**
 * 32 hex digits (16 bytes, 122 of them random: a version-4 UUID without its dashes). Why not
 * randomBytes(16): it asks OpenSSL for entropy on every call — 5.6–6.0 µs of CPU against
 * 0.4–0.6 µs for randomUUID, which draws from a cached pool (node /tmp micro-bench, 200,000
 * calls, 2026-12-01); it was 5 % of the built relay's CPU profile under bench/relay-vs-proxy.ts.
 */
export function newPayloadId(): string {
  return randomUUID().replaceAll('-', '');
}

/** The record in two pieces — version, id and meta; then the body as received — written as one record without copying the body (point-journal.ts `appendMany`). */
export function encodeSpooled(payload: SpooledPayload): [Buffer, Buffer] {
  const meta = JSON.stringify({ orgId: payload.orgId, kind: payload.kind, path: payload.path, headers: payload.headers, receivedAt: payload.receivedAt });
  const metaLength = Buffer.byteLength(meta, 'utf8');
  const head = Buffer.allocUnsafe(1 + ID_BYTES + 4 + metaLength);
  head.writeUInt8(VERSION, 0);
  head.write(payload.id, 1, ID_BYTES, 'hex');
  head.writeUInt32LE(metaLength, 1 + ID_BYTES);
  head.write(meta, 1 + ID_BYTES + 4, metaLength, 'utf8');
  return [head, payload.body];
}

/** Undefined for a record this version cannot read (it is kept in a dead letter by the caller). */
export function decodeSpooled(record: Uint8Array): SpooledPayload | undefined {
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (bytes.length < 1 + ID_BYTES + 4 || bytes.readUInt8(0) !== VERSION) return undefined;
  const metaLength = bytes.readUInt32LE(1 + ID_BYTES);
  const metaEnd = 1 + ID_BYTES + 4 + metaLength;
  if (metaEnd > bytes.length) return undefined;
  try {
    const meta = JSON.parse(bytes.subarray(1 + ID_BYTES + 4, metaEnd).toString('utf8')) as Omit<SpooledPayload, 'id' | 'body'>;
    return { id: bytes.subarray(1, 1 + ID_BYTES).toString('hex'), ...meta, body: Buffer.from(bytes.subarray(metaEnd)) };
  } catch {
    return undefined;
  }
}

/**
 * An acknowledgement record: the ids of the payloads delivered (or dead-lettered), 16 bytes
 * each. The marks of one event-loop turn share one record (relay-spool.ts writes them with one
 * write()); a record of one id is the format of earlier versions, read the same way.
 */
export function encodeAcks(ids: readonly string[]): Buffer {
  const record = Buffer.allocUnsafe(ids.length * ID_BYTES);
  ids.forEach((id, i) => record.write(id, i * ID_BYTES, ID_BYTES, 'hex'));
  return record;
}

/** The ids of an acknowledgement record; a record that is not whole ids (not written by this code) names none. */
export function decodeAcks(record: Uint8Array): string[] {
  if (record.byteLength % ID_BYTES !== 0) return [];
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const ids: string[] = [];
  for (let at = 0; at < bytes.length; at += ID_BYTES) ids.push(bytes.toString('hex', at, at + ID_BYTES));
  return ids;
}
