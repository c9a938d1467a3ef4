/**
 * The intake's abuse limits from the server's environment, so an operator can size them for
 * a fleet without code (docs/security.md, "The intake under abuse"):
 *
 *   REKEY_INTAKE_RATE_PER_KEY=2000/4000           requests per second / burst, per API key (default 20000/40000)
 *   REKEY_INTAKE_RATE_PER_ADDRESS=1000/2000       the same per client address (default 20000/40000)
 *   REKEY_INTAKE_UNKNOWN_KEYS_PER_ADDRESS=10/100  lookups of unknown keys per address
 *   REKEY_INTAKE_REFUSED_PER_KEY=5/50             refused payloads per API key
 *   REKEY_INTAKE_MAX_SERIES / _MAX_POINTS / _MAX_TAGS / _MAX_JSON_VALUES   per payload
 *   REKEY_INTAKE_MAX_POINT_AGE_SECONDS=86400      oldest point accepted (default 3600, Datadog's
 *                                                 1 hour; up to the retention, for agents that
 *                                                 replay a long outage's queue)
 *
 * Unset variables keep the defaults. A malformed value fails at start-up (USAGE), naming the
 * variable, never per request.
 */
import { rekeyError } from '../errors.js';
import type { IntakeRateLimits } from './intake-rate-limits.js';
import type { PayloadCaps } from './payload-caps.js';
import type { TimestampWindow } from './series-payload.js';
import type { RateLimit } from './rate-limiter.js';

const RATES: Array<[keyof IntakeRateLimits, string]> = [
  ['perKey', 'REKEY_INTAKE_RATE_PER_KEY'],
  ['perAddress', 'REKEY_INTAKE_RATE_PER_ADDRESS'],
  ['unknownKeysPerAddress', 'REKEY_INTAKE_UNKNOWN_KEYS_PER_ADDRESS'],
  ['refusedPayloadsPerKey', 'REKEY_INTAKE_REFUSED_PER_KEY'],
];

const CAPS: Array<[keyof PayloadCaps, string]> = [
  ['maxSeries', 'REKEY_INTAKE_MAX_SERIES'],
  ['maxPoints', 'REKEY_INTAKE_MAX_POINTS'],
  ['maxTags', 'REKEY_INTAKE_MAX_TAGS'],
  ['maxJsonValues', 'REKEY_INTAKE_MAX_JSON_VALUES'],
];

export function intakeLimitsFromEnv(env: NodeJS.ProcessEnv): {
  rateLimits?: Partial<IntakeRateLimits>;
  payloadCaps?: Partial<PayloadCaps>;
  timestampWindow?: Partial<TimestampWindow>;
} {
  const rateLimits: Partial<IntakeRateLimits> = {};
  for (const [name, variable] of RATES) {
    const text = env[variable];
    if (text === undefined || text === '') continue;
    const match = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(text.trim());
    const limit: RateLimit | undefined = match ? { perSecond: Number(match[1]), burst: Number(match[2]) } : undefined;
    if (limit === undefined || !(limit.perSecond > 0) || !(limit.burst >= 1)) {
      throw rekeyError('USAGE', { detail: `${variable} "${text.slice(0, 40)}" must be REQUESTS_PER_SECOND/BURST, e.g. 2000/4000 (both above 0)` });
    }
    rateLimits[name] = limit;
  }
  const payloadCaps: Partial<Record<keyof PayloadCaps, number>> = {};
  for (const [name, variable] of CAPS) {
    const text = env[variable];
    if (text === undefined || text === '') continue;
    if (!/^\d{1,9}$/.test(text.trim()) || Number(text) < 1) {
      throw rekeyError('USAGE', { detail: `${variable} "${text.slice(0, 40)}" must be a whole number from 1 to 999999999` });
    }
    payloadCaps[name] = Number(text);
  }
  const maxAge = env.REKEY_INTAKE_MAX_POINT_AGE_SECONDS;
  if (maxAge !== undefined && maxAge !== '' && (!/^\d{1,9}$/.test(maxAge.trim()) || Number(maxAge) < 60)) {
    throw rekeyError('USAGE', { detail: `REKEY_INTAKE_MAX_POINT_AGE_SECONDS "${maxAge.slice(0, 40)}" must be a whole number of seconds, at least 60` });
  }
  return {
    ...(Object.keys(rateLimits).length > 0 ? { rateLimits } : {}),
    ...(Object.keys(payloadCaps).length > 0 ? { payloadCaps } : {}),
    ...(maxAge !== undefined && maxAge !== '' ? { timestampWindow: { maxAgeSeconds: Number(maxAge) } } : {}),
  };
}
