/**
 * The worker thread of counting-thread.ts: counts forwarded bodies off the event loop. One
 * message per body, answered with its points per host or the intake's error (code and message).
 */
import { parentPort } from 'node:worker_threads';
import { RekeyError } from '../errors.js';
import type { IntakeLimits } from '../intake/intake-limits.js';
import { readForwardedPoints } from './forwarded-usage.js';

export interface CountRequest {
  id: number;
  path: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
  limits: IntakeLimits;
}

export type CountAnswer = { id: number; counts: Array<[string, number]> } | { id: number; code?: RekeyError['code']; message: string };

parentPort?.on('message', (request: CountRequest) => {
  const body = Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength);
  readForwardedPoints(request.path, request.headers, body, request.limits).then(
    (counts) => parentPort!.postMessage({ id: request.id, counts: [...counts] } satisfies CountAnswer),
    (error: unknown) =>
      parentPort!.postMessage({
        id: request.id,
        ...(error instanceof RekeyError ? { code: error.code } : {}),
        message: error instanceof Error ? error.message : String(error),
      } satisfies CountAnswer),
  );
});
