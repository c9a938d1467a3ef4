/**
 * Reads a request body into one Buffer, refusing it (PAYLOAD_TOO_LARGE) as soon as more than
 * `limit` bytes have arrived — or at once when Content-Length already says so — so a client
 * cannot make the server buffer more than the limit.
 *
 * Events rather than `for await`: leaving an async iterator early destroys the request, and
 * with it the socket that must still carry the 413. Excess bytes are drained and dropped.
 */
import type { IncomingMessage } from 'node:http';
import { rekeyError } from '../errors.js';

export function readBody(stream: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => rekeyError('PAYLOAD_TOO_LARGE', { what, limit });
    const declared = Number(stream.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      stream.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        chunks.length = 0;
        stream.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
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
