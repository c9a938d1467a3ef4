/**
 * The intake's one content-type parser, for every content type: the body as raw bytes, read
 * with the route's wire limit and decompressed with its decoded limit, its work counted as it
 * inflates (413 as soon as a limit or cap is crossed: payload-caps.ts), so a bomb stops at its
 * first megabytes and is never buffered whole. Routes decode the bytes themselves.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decompressBody, parseContentEncoding, type ContentEncoding } from './decompress-body.js';
import type { IntakeLimits } from './intake-limits.js';
import { headerValue, PROTOBUF_TYPE } from './intake-request.js';
import { MetricPayloadCounter } from './metric-payload-proto.js';
import { DeferredJsonScanner, markScanned, type PayloadCaps } from './payload-caps.js';
import { readBody } from './read-body.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Size limits of an intake route. */
    intakeLimits?: IntakeLimits;
  }
}

/**
 * Replaces `app`'s parsers (call it on the intake's encapsulated instance only). `onBodyRead`
 * hears each body's bytes as sent (for the key's usage and limits: IntakeAuth.countBodyBytes).
 */
export function installIntakeBodyParser(
  app: FastifyInstance,
  defaultLimits: IntakeLimits,
  caps: PayloadCaps,
  onBodyRead?: (request: FastifyRequest, wireBytes: number) => void,
): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (request: FastifyRequest) => {
    const limits = request.routeOptions.config.intakeLimits ?? defaultLimits;
    const encoding = parseContentEncoding(headerValue(request.headers['content-encoding']));
    const wire = await readBody(request.raw, limits.wireBytes, encoding === 'identity' ? 'payload' : 'compressed payload');
    onBodyRead?.(request, wire.length);
    return decodeWithCaps(wire, encoding, PROTOBUF_TYPE.test(headerValue(request.headers['content-type']) ?? ''), limits.decodedBytes, caps);
  });
}

/**
 * The one way an intake body is decompressed under the work caps (the intake's parser, and the
 * relay counting what it forwards): protobuf has its series counted while it inflates
 * (metric-payload-proto.ts); JSON is counted from the moment it inflates past 64 KiB, so a bomb
 * stops at its first megabytes, and a body that stays small is counted (or not, for a series
 * route) when it is parsed (payload-caps.ts).
 */
export async function decodeWithCaps(wire: Buffer, encoding: ContentEncoding, protobuf: boolean, decodedLimit: number, caps: PayloadCaps): Promise<Buffer> {
  if (encoding === 'identity') return wire;
  if (protobuf) {
    const counter = new MetricPayloadCounter(caps);
    return decompressBody(wire, encoding, decodedLimit, (chunk) => counter.push(chunk));
  }
  const scanner = new DeferredJsonScanner(caps);
  const body = await decompressBody(wire, encoding, decodedLimit, (chunk) => scanner.push(chunk));
  return scanner.scannedAll ? markScanned(body) : body;
}
