/**
 * Reads a request body into one Buffer, refusing it (PAYLOAD_TOO_LARGE) once more than
 * `limit` bytes have arrived — or when Content-Length already says so — so a client cannot
 * make the server buffer more than the limit.
 *
 * The 413 must reach a client that is still uploading (Node's fetch, an agent): answering
 * while its body is still coming, then closing, makes the kernel reset the connection, and
 * the client sees a network error instead of the status (and an agent retries it forever).
 * So the excess is read and dropped — nothing kept — until the body ends, and only then is
 * the 413 sent (with `Connection: close`, set by the intake's error handler). Reading is
 * bounded: past `DRAIN_LIMIT` discarded bytes the 413 goes out at once.
 *
 * Events rather than `for await`: leaving an async iterator early destroys the request, and
 * with it the socket that must still carry the 413.
 */
import type { IncomingMessage } from 'node:http';
import { rekeyError } from '../errors.js';

/** Most bytes read and dropped after the limit before the 413 is sent anyway. */
export const DRAIN_LIMIT = 32 * 1024 * 1024;

export function readBody(stream: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => rekeyError('PAYLOAD_TOO_LARGE', { what, limit });
    const chunks: Buffer[] = [];
    let total = 0;
    let overLimit = false;
    let drained = 0;
    const refuse = () => {
      cleanup();
      chunks.length = 0;
      stream.resume(); // whatever still comes is dropped
      reject(tooLarge());
    };
    const startDraining = () => {
      overLimit = true;
      chunks.length = 0;
      if (stream.complete) refuse();
    };
    const declared = Number(stream.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) startDraining();
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (overLimit) {
        drained += chunk.length;
        if (drained > DRAIN_LIMIT) refuse();
        return;
      }
      if (total > limit) {
        drained = total - limit;
        startDraining();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (overLimit) return refuse();
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(rekeyError('INVALID_PAYLOAD', { detail: `The request body could not be read: ${error.message}` }));
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
