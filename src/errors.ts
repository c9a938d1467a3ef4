/**
 * The one catalogue of rekey's errors.
 *
 * Every failure a user can see has a code here, with its HTTP status, its CLI exit code
 * (0 success, 1 operation failed, 2 bad usage or bad input) and a message that says what to
 * change. Code is thrown by name: `throw rekeyError('API_KEY_NOT_FOUND')`.
 * Retired codes are never reused; `docs/errors.md` documents every code (a test checks it).
 *
 * Messages never contain a key: at most its last 4 characters.
 *
 * Expected denials on hot paths (a revoked key at the intake) are data, not exceptions:
 * see `KeyCheck` in src/keys/key-format.ts.
 */

export interface ErrorSpec<P> {
  /** HTTP status when the error crosses the API. */
  readonly status: number;
  /** Process exit code when the error ends a CLI command. */
  readonly exitCode: 1 | 2;
  readonly message: (params: P) => string;
}

function spec<P = void>(status: number, exitCode: 1 | 2, message: (params: P) => string): ErrorSpec<P> {
  return { status, exitCode, message };
}

export const errorCatalogue = {
  // ---- generic -------------------------------------------------------------------------
  BAD_REQUEST: spec<{ detail: string }>(400, 2, (p) => p.detail),
  NOT_FOUND: spec(404, 1, () => 'Not found'),
  FORBIDDEN: spec(403, 1, () => 'Forbidden'),
  UNAUTHORIZED: spec(401, 1, () => 'Unauthorized'),
  RATE_LIMITED: spec<{ retryAfterSeconds: number }>(429, 1, (p) => `Too many failed authentication attempts; retry after ${p.retryAfterSeconds} s`),
  INTERNAL: spec(500, 1, () => 'Internal error'),

  // ---- keys (src/keys) -----------------------------------------------------------------
  MALFORMED_KEY: spec<{ detail: string }>(400, 2, (p) => p.detail),

  // ---- store invariants (src/store) ----------------------------------------------------
  LAST_ACTIVE_API_KEY: spec(400, 1, () => "It isn't possible to have zero API keys. Create a new API key before revoking this one."),
  API_KEY_LIMIT_REACHED: spec<{ limit: number }>(
    400,
    1,
    (p) => `This organization already has ${p.limit} API keys, the maximum. Revoke one before creating another.`,
  ),
  INVALID_NAME: spec<{ detail: string }>(400, 2, (p) => p.detail),
  API_KEY_NOT_FOUND: spec(404, 1, () => 'API key not found'),
  APP_KEY_NOT_FOUND: spec(404, 1, () => 'Application key not found'),
  ORG_NOT_FOUND: spec<{ org: string }>(404, 2, (p) => `No organization named or with id "${p.org}"`),
  USER_NOT_FOUND: spec(404, 1, () => 'User not found'),
  METRIC_NOT_FOUND: spec<{ metric: string }>(404, 1, (p) => `No metric named "${p.metric}" has been received`),
  DUPLICATE_EMAIL: spec<{ email: string }>(409, 2, (p) => `A user with email ${p.email} already exists`),
  DUPLICATE_ORG: spec<{ name: string }>(409, 2, (p) => `An organization named "${p.name}" already exists`),
  RESTORE_WINDOW_PASSED: spec<{ days: number }>(
    400,
    1,
    (p) => `This key was revoked more than ${p.days} days ago and can no longer be restored. Create a new key instead.`,
  ),
  API_KEY_NOT_REVOKED: spec(400, 1, () => 'This API key is not revoked; there is nothing to restore'),
  API_KEY_REVOKED: spec(400, 1, () => 'This API key is revoked; restore it first'),
  LAST_ACTIVE_ADMIN: spec(400, 1, () => "This is the organization's last active admin. Create or enable another admin before disabling or deleting this one."),
  CURRENT_PASSWORD_INCORRECT: spec(400, 1, () => 'The current password is not correct; the password was not changed.'),
  PASSWORD_TOO_SHORT: spec<{ length: number; min: number }>(
    400,
    2,
    (p) => `The new password has ${p.length} characters; it needs at least ${p.min}. The password was not changed.`,
  ),

  // ---- store / infrastructure ----------------------------------------------------------
  ALREADY_INITIALISED: spec<{ where: string }>(
    409,
    2,
    (p) => `${p.where} is already initialised; nothing was changed. Use another --data directory or database.`,
  ),
  DATA_DIR_NOT_WRITABLE: spec<{ dir: string; reason: string }>(
    500,
    1,
    (p) => `The data directory ${p.dir} is not writable (${p.reason}); choose another with --data or REKEY_DATA`,
  ),
  SQLITE_DRIVER_UNAVAILABLE: spec<{ reason: string }>(
    500,
    1,
    (p) =>
      `The embedded SQLite driver (better-sqlite3) cannot be loaded (${p.reason}); run npm install (or npm rebuild better-sqlite3) where rekey is installed, or use PostgreSQL with REKEY_DATABASE_URL`,
  ),
  DATABASE_UNREACHABLE: spec<{ target: string; reason: string }>(503, 1, (p) => `Cannot reach the database at ${p.target}: ${p.reason}`),
  DATABASE_URL_INVALID: spec<{ detail: string }>(400, 2, (p) => `REKEY_DATABASE_URL is not valid: ${p.detail}`),
  DATABASE_UNAVAILABLE: spec<{ reason: string; retryAfterSeconds: number }>(
    503,
    1,
    (p) => `The database is unavailable right now (${p.reason}); retry in ${p.retryAfterSeconds} s`,
  ),

  // ---- config files (src/config) -------------------------------------------------------
  CONFIG_INVALID: spec<{ detail: string }>(400, 2, (p) => p.detail),
  CONFIG_UNREADABLE: spec<{ file: string; reason: string }>(400, 2, (p) => `Cannot read ${p.file}: ${p.reason}`),
  CONFIG_LINE_INVALID: spec<{ file: string; line: number; detail: string }>(400, 2, (p) => `${p.file}, line ${p.line}: ${p.detail}`),
  CONFIG_NOT_FOUND: spec<{ tried: string }>(404, 2, (p) => `No Datadog Agent config file found (looked for ${p.tried}); give one with --file`),
  CONFIG_NOT_DATADOG: spec<{ file: string; reason: string }>(
    400,
    2,
    (p) => `${p.file} does not look like a Datadog Agent config (${p.reason}); check the --file path`,
  ),
  CONFIG_SECRET_HANDLE: spec<{ file: string; line: number }>(
    400,
    2,
    (p) =>
      `${p.file}, line ${p.line}: api_key is a secret handle (ENC[…]) resolved by your secrets backend; change the secret there, or pass --force to replace the handle with a plain key`,
  ),
  CONFIG_EDIT_REFUSED: spec<{ file: string; detail: string }>(400, 2, (p) => `${p.file}: ${p.detail}; the file was not changed`),
  CONFIG_WRITE_FAILED: spec<{ file: string; reason: string }>(500, 1, (p) => `Could not write ${p.file}: ${p.reason}; the file was left as it was`),
  SERVICE_MANAGER_UNKNOWN: spec<{ platform: string }>(
    400,
    1,
    (p) =>
      `Cannot tell how the Datadog Agent is run on this ${p.platform} host (no systemd, init script, launchd or Windows service found); pass --manager or restart it by hand`,
  ),
  AGENT_RESTART_FAILED: spec<{ command: string; reason: string }>(500, 1, (p) => `Restarting the agent failed (${p.command}): ${p.reason}`),

  // ---- agent (src/agent) ---------------------------------------------------------------
  AGENT_ALREADY_RUNNING: spec<{ pid: number; runPath: string }>(
    409,
    1,
    (p) => `A rekey-agent (pid ${p.pid}) already uses the run path ${p.runPath}; stop it first or give another --run-path`,
  ),
  AGENT_NOT_RUNNING: spec<{ runPath: string; detail: string }>(
    503,
    1,
    (p) => `No running rekey-agent answers for the run path ${p.runPath} (${p.detail}); start it, or give its --run-path`,
  ),
  AGENT_RUN_PATH_UNUSABLE: spec<{ runPath: string; reason: string }>(
    500,
    1,
    (p) => `Cannot use the run path ${p.runPath} (${p.reason}); make it writable or give another with --run-path`,
  ),
  SERVICE_INSTALL_FAILED: spec<{ target: string; reason: string }>(500, 1, (p) => `Could not install ${p.target} (${p.reason}); run as root or give --prefix`),

  // ---- rotation (src/rotate) -----------------------------------------------------------
  INVENTORY_INVALID: spec<{ file: string; problems: string[] }>(
    400,
    2,
    (p) => `${p.file} is not a valid inventory:\n${p.problems.map((problem) => `  ${problem}`).join('\n')}`,
  ),
  ROTATION_IN_PROGRESS: spec<{ journal: string }>(
    409,
    2,
    (p) => `A rotation is already in progress (journal ${p.journal}); pass --resume to finish it, or delete the journal to abandon it`,
  ),
  ROTATION_NOTHING_TO_RESUME: spec<{ journal: string }>(
    400,
    2,
    (p) => `There is no unfinished rotation to resume (no journal at ${p.journal}); run without --resume`,
  ),
  ROTATION_JOURNAL_INVALID: spec<{ journal: string; detail: string }>(
    400,
    2,
    (p) => `The rotation journal ${p.journal} cannot be used (${p.detail}); fix or delete it`,
  ),
  DATADOG_API_FAILED: spec<{ request: string; status: number; detail: string }>(502, 1, (p) => `${p.request} failed with HTTP ${p.status}: ${p.detail}`),
  DATADOG_UNREACHABLE: spec<{ url: string; reason: string }>(503, 1, (p) => `Cannot reach ${p.url}: ${p.reason}; check --url or DD_SITE`),
  ROTATION_KEY_NOT_FOUND: spec<{ id: string }>(404, 2, (p) => `No active API key with id ${p.id} in this organization; list them with GET /api/v2/api_keys`),
  TRANSPORT_FAILED: spec<{ host: string; step: string; detail: string }>(500, 1, (p) => `${p.host}: ${p.step} failed: ${p.detail}`),

  // ---- intake (src/intake, src/points) ------------------------------------------------
  PAYLOAD_TOO_LARGE: spec<{ what: string; limit: number }>(413, 1, (p) => `The ${p.what} is larger than ${p.limit} bytes; send smaller batches`),
  UNSUPPORTED_ENCODING: spec<{ encoding: string }>(415, 2, (p) => `Content-Encoding "${p.encoding}" is not supported; use gzip, deflate, zstd or none`),
  CORRUPT_ENCODING: spec<{ encoding: string }>(
    400,
    2,
    (p) => `The body is not valid ${p.encoding} data (truncated or corrupt); compress the whole payload again`,
  ),
  INVALID_PAYLOAD: spec<{ detail: string }>(400, 2, (p) => p.detail),
  INVALID_QUERY: spec<{ detail: string }>(400, 2, (p) => p.detail),
  PAYLOAD_TOO_COMPLEX: spec<{ what: string; limit: number }>(413, 1, (p) => `The payload has more than ${p.limit} ${p.what}; send smaller batches`),
  INTAKE_RATE_LIMITED: spec<{ who: string; retryAfterSeconds: number }>(
    429,
    1,
    (p) => `Too many intake requests from this ${p.who}; retry after ${p.retryAfterSeconds} s`,
  ),
  API_KEY_QUOTA_EXCEEDED: spec<{ limit: string; retryAfterSeconds: number }>(
    429,
    1,
    (p) => `This API key is over its limit of ${p.limit}; retry after ${p.retryAfterSeconds} s`,
  ),
  LOCK_FILE_UNUSABLE: spec<{ path: string; reason: string }>(
    500,
    1,
    (p) =>
      `Cannot take the lock file ${p.path} (${p.reason}); only a regular file holding the pid of the process that holds the lock belongs at that name: if no rekey process runs on that directory, remove it and start again`,
  ),
  JOURNAL_FILE_UNREADABLE: spec<{ path: string; dir: string; reason: string }>(
    500,
    1,
    (p) =>
      `Cannot read the journal file ${p.path} (${p.reason}), which may hold acknowledged points; make it a regular file rekey's user can read, in a directory it can write, or move it out of ${p.dir} to start without it (moved back in later, it is read at the next start)`,
  ),
  INTAKE_STORAGE_FAILED: spec<{ reason: string; retryAfterSeconds: number }>(
    503,
    1,
    (p) => `The intake could not store this payload (${p.reason}); none of it was accepted. Retry in ${p.retryAfterSeconds} s`,
  ),

  // ---- relay mode (src/relay) ----------------------------------------------------------
  INVALID_UPSTREAM: spec<{ detail: string }>(400, 2, (p) => p.detail),
  UPSTREAM_KEY_UNREADABLE: spec<{ orgId: string }>(
    500,
    1,
    (p) =>
      `The upstream API key of organization ${p.orgId} cannot be decrypted (the deployment secret changed?); set it again with rekey upstream set --key-stdin`,
  ),
  UPSTREAM_NOT_SET: spec<{ org: string }>(404, 1, (p) => `Organization "${p.org}" has no upstream; set one with rekey upstream set`),
  UPSTREAM_ROTATION_FAILED: spec<{ step: string; detail: string }>(
    502,
    1,
    (p) => `rekey upstream rotate stopped at step "${p.step}": ${p.detail}. Fix the cause and run it again with --resume`,
  ),
  UPSTREAM_NODES_LAGGING: spec<{ lagging: string; confirmed: number; live: number; waited: string; newLast4: string; oldLast4: string }>(
    503,
    1,
    (p) =>
      `rekey upstream rotate stopped at step "confirm": relay node(s) ${p.lagging} did not report forwarding with the new upstream key …${p.newLast4} within ${p.waited} (${p.confirmed} of ${p.live} live nodes did); the old key …${p.oldLast4} was not revoked. Check those nodes (stuck, cut off from the database), then run it again with --resume`,
  ),
  UPSTREAM_DRAIN_INCOMPLETE: spec<{ remaining: number; found: number; timeout: string; why: string }>(
    503,
    1,
    (p) =>
      `${p.remaining} of ${p.found} payload(s) still undelivered after ${p.timeout} (${p.why}); run rekey upstream drain again: delivered payloads are not sent again`,
  ),
  RELAY_COUNTING_FAILED: spec<{ reason: string; retryAfterSeconds: number }>(
    503,
    1,
    (p) => `The relay could not count this payload's points for its key's limit (${p.reason}); nothing was accepted. Retry in ${p.retryAfterSeconds} s`,
  ),
  RELAY_SPOOL_FULL: spec<{ retryAfterSeconds: number }>(
    503,
    1,
    (p) => `The relay's spool is full (the upstream is not taking payloads fast enough); nothing was accepted. Retry in ${p.retryAfterSeconds} s`,
  ),

  // ---- server (src/server) -------------------------------------------------------------
  ROLE_REQUIRED: spec<{ role: string; action: string }>(
    403,
    1,
    (p) => `Forbidden: ${p.action} needs the ${p.role} role; use an application key of a user with that role`,
  ),
  SCOPE_REQUIRED: spec<{ scopes: string; action: string }>(
    403,
    1,
    (p) => `Forbidden: ${p.action} needs an application key with the ${p.scopes} scope, or one without scopes`,
  ),
  UNKNOWN_SCOPE: spec<{ scopes: string; known: string }>(400, 2, (p) => `Unknown application key scope ${p.scopes}; use ${p.known}`),
  SCOPE_ESCALATION: spec(403, 1, () => 'Forbidden: a scoped application key can only give a key scopes it has itself; use an unscoped key of this user'),
  UNSCOPED_KEY_REQUIRED: spec<{ action: string }>(
    403,
    1,
    (p) =>
      `Forbidden: ${p.action} needs an application key without scopes (no scope grants it: a password signs in with the user's whole role, and the relay upstream decides where the organization's data goes)`,
  ),
  BODY_ID_MISMATCH: spec(400, 2, () => 'The id in the request body does not match the id in the URL'),
  LISTEN_FAILED: spec<{ address: string; reason: string }>(
    500,
    1,
    (p) => `Cannot listen on ${p.address}: ${p.reason}; choose another address with --host/--port (REKEY_HOST/REKEY_PORT)`,
  ),
  TLS_FILES_UNREADABLE: spec<{ file: string; reason: string }>(
    400,
    2,
    (p) => `Cannot read the TLS file ${p.file}: ${p.reason}; check --tls-cert and --tls-key`,
  ),

  // ---- ui (src/ui) --------------------------------------------------------------------
  CSRF_TOKEN_INVALID: spec(403, 1, () => 'This form is out of date or was not sent from this site. Reload the page and try again.'),
  SIGN_IN_FAILED: spec(401, 1, () => 'Email or password is incorrect.'),

  // ---- CLI (src/cli) -------------------------------------------------------------------
  USAGE: spec<{ detail: string }>(400, 2, (p) => p.detail),
} as const;

export type ErrorCode = keyof typeof errorCatalogue;
type ParamsOf<C extends ErrorCode> = (typeof errorCatalogue)[C] extends ErrorSpec<infer P> ? P : never;

/** An error from the catalogue: carries its code, HTTP status and CLI exit code. */
export class RekeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: 1 | 2;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RekeyError';
    this.code = code;
    const entry = errorCatalogue[code] as ErrorSpec<unknown>;
    this.status = entry.status;
    this.exitCode = entry.exitCode;
  }
}

/**
 * Builds the catalogue's error for `code`.
 * @example throw rekeyError('ORG_NOT_FOUND', { org: 'acme' })
 */
export function rekeyError<C extends ErrorCode>(
  code: C,
  ...args: ParamsOf<C> extends void ? [params?: undefined, options?: { cause?: unknown }] : [params: ParamsOf<C>, options?: { cause?: unknown }]
): RekeyError {
  const [params, options] = args;
  const entry = errorCatalogue[code] as ErrorSpec<unknown>;
  return new RekeyError(code, entry.message(params), options);
}

export function isRekeyError(error: unknown, code?: ErrorCode): error is RekeyError {
  return error instanceof RekeyError && (code === undefined || error.code === code);
}
