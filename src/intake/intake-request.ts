/**
 * What the intake routes read from a request besides the payload's content: its raw body,
 * single header values, and the sending agent's version.
 */
import type { FastifyRequest } from 'fastify';
import { rekeyError } from '../errors.js';

/** The first value of a header Node may have given as a list. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The body the intake's content-type parser read and decompressed (intake-body.ts); 400 without one. */
export function bodyOf(request: FastifyRequest): Buffer {
  const body = request.body;
  if (!Buffer.isBuffer(body)) throw rekeyError('INVALID_PAYLOAD', { detail: 'The request has no body; send a payload' });
  return body;
}

const AGENT_USER_AGENT = /^(?:datadog-agent|rekey-agent)\/([0-9][\w.+-]{0,60})/i;

/** The sending agent's version: `DD-Agent-Version`, else a `datadog-agent/7.x` or `rekey-agent/x` User-Agent. */
export function agentVersionOf(request: FastifyRequest): string | null {
  const value = headerValue(request.headers['dd-agent-version']);
  if (value !== undefined && value !== '') return value.slice(0, 100);
  const userAgent = headerValue(request.headers['user-agent']);
  return (userAgent && AGENT_USER_AGENT.exec(userAgent)?.[1]) || null;
}

/** Agent 7's protobuf MetricPayload (`application/x-protobuf`). */
export const PROTOBUF_TYPE = /^application\/(x-)?protobuf\b/i;

/** The current time in epoch seconds, by the intake's clock. */
export function secondsNow(now: () => number): number {
  return Math.floor(now() / 1000);
}
