/**
 * What a password a person chooses must be (issue 15): the one rule for the API, the UI and
 * `rekey user …`. Generated passwords (`generatePassword`, 24 characters) always pass.
 * The password is never put in the error.
 */
import { rekeyError } from '../errors.js';

/** Short enough to type, long enough not to be guessed within the sign-in throttle's window. */
export const MIN_PASSWORD_LENGTH = 12;
/** scrypt hashes any length; this only bounds the work one request can ask for. */
export const MAX_PASSWORD_LENGTH = 1024;

/** Throws PASSWORD_TOO_SHORT, or BAD_REQUEST when longer than MAX_PASSWORD_LENGTH. */
export function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw rekeyError('PASSWORD_TOO_SHORT', { length: password.length, min: MIN_PASSWORD_LENGTH });
  if (password.length > MAX_PASSWORD_LENGTH) throw rekeyError('BAD_REQUEST', { detail: `A password has at most ${MAX_PASSWORD_LENGTH} characters` });
}
