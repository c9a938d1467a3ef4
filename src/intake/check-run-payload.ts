/**
 * `POST /api/v1/check_run`: an array of `{check, host_name, status, timestamp, message, tags}`
 * (Datadog's ServiceCheck), or one such object alone, as Datadog accepts and the zorkian Go
 * client's PostCheck sends (its `timestamp` a string of seconds). Validated like the series
 * (INVALID_PAYLOAD naming the field).
 */
import { rekeyError } from '../errors.js';
import type { TimestampWindow } from './series-payload.js';

export interface CheckRun {
  check: string;
  host: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  status: number;
  /** Seconds. */
  timestamp: number;
  message: string;
  tags: string[];
}

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

export function decodeCheckRuns(payload: unknown, nowSeconds: number, window: TimestampWindow): CheckRun[] {
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) payload = [payload];
  if (!Array.isArray(payload)) throw invalid('The payload must be a check run or an array of check runs');
  if (payload.length === 0) throw invalid('The check run array is empty; send at least one');
  return payload.map((raw: unknown, index) => {
    const where = `[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(`${where} must be an object`);
    const run = raw as Record<string, unknown>;
    if (typeof run.check !== 'string' || run.check === '' || run.check.length > 200) {
      throw invalid(`${where}.check must be a non-empty string of at most 200 characters`);
    }
    if (typeof run.host_name !== 'string' || run.host_name.length > 255) throw invalid(`${where}.host_name must be a string`);
    if (typeof run.status !== 'number' || !Number.isInteger(run.status) || run.status < 0 || run.status > 3) {
      throw invalid(`${where}.status must be 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)`);
    }
    let timestamp = nowSeconds;
    if (run.timestamp !== undefined && run.timestamp !== null) {
      const seconds = typeof run.timestamp === 'string' && /^\d{1,12}(\.\d+)?$/.test(run.timestamp) ? Number(run.timestamp) : run.timestamp;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw invalid(`${where}.timestamp must be a number of seconds`);
      timestamp = Math.floor(seconds);
      if (timestamp > nowSeconds + window.futureSeconds || timestamp < nowSeconds - window.maxAgeSeconds) {
        throw invalid(`${where}.timestamp ${timestamp} is outside the accepted window; check the sender's clock`);
      }
    }
    if (run.message !== undefined && run.message !== null && typeof run.message !== 'string') throw invalid(`${where}.message must be a string`);
    let tags: string[] = [];
    if (run.tags !== undefined && run.tags !== null) {
      if (!Array.isArray(run.tags) || run.tags.some((tag) => typeof tag !== 'string')) throw invalid(`${where}.tags must be an array of strings`);
      tags = [...new Set(run.tags as string[])].sort();
    }
    return { check: run.check, host: run.host_name, status: run.status, timestamp, message: ((run.message as string | undefined) ?? '').slice(0, 4000), tags };
  });
}
