/**
 * Where a command gets a key from: stdin (`--key-stdin`) or a named environment variable
 * (`--key-env VAR`), never its own argument list, which other users can read in `ps`.
 */
import { rekeyError } from '../errors.js';

export interface KeyInputOptions {
  keyStdin?: boolean;
  keyEnv?: string;
}

/** The key, with one trailing newline from `echo`/a key file removed; null if neither option is given. */
export async function readKeyInput(options: KeyInputOptions, readStdin: () => Promise<string>, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (options.keyStdin && options.keyEnv !== undefined) {
    throw rekeyError('USAGE', { detail: 'give the key with --key-stdin or --key-env, not both' });
  }
  if (options.keyStdin) return (await readStdin()).replace(/\r?\n$/, '');
  if (options.keyEnv !== undefined) {
    const value = env[options.keyEnv];
    if (value === undefined || value === '') {
      throw rekeyError('USAGE', { detail: `the environment variable ${options.keyEnv} (from --key-env) is not set` });
    }
    return value;
  }
  return null;
}
