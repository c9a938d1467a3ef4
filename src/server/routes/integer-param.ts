/**
 * An integer query parameter of the v1 read routes (query, hosts), or 400 INVALID_QUERY.
 */
import { rekeyError } from '../../errors.js';

export function integerParam(value: unknown, name: string): number {
  const number = typeof value === 'string' && /^-?\d{1,12}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) {
    throw rekeyError('INVALID_QUERY', { detail: `"${name}" must be an integer (seconds since the epoch for from/to)` });
  }
  return number;
}
