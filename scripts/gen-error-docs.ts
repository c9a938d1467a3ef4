/**
 * Writes docs/errors.md from the error catalogue (src/errors.ts): every code with its HTTP
 * status, CLI exit code, message and what to do. The catalogue is the source of truth for
 * status, exit code and message; the explanations below add the "when and what to do".
 * test/ship/error-docs.test.ts fails when a code of the catalogue is missing from the file.
 *
 * Usage: node --import tsx scripts/gen-error-docs.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorCatalogue, type ErrorCode, type ErrorSpec } from '../src/errors.js';

export const ERROR_DOCS_FILE = fileURLToPath(new URL('../docs/errors.md', import.meta.url));

/** When each error happens and what to change. A new code without an entry is still listed. */
const explanations: Partial<Record<ErrorCode, string>> = {
  BAD_REQUEST: 'A request or its parameters are malformed; the message names the field.',
  NOT_FOUND: "No route or object at this path (another organisation's objects are also 404).",
  FORBIDDEN: 'Missing, malformed, unknown, revoked or expired key. The intake answers exactly `{"errors":["Forbidden"]}`.',
  UNAUTHORIZED: 'A web UI page or action without a signed-in session; sign in again.',
  RATE_LIMITED:
    'More than 20 failed authentications in a minute from this address (counted per server node): every authenticated request from it is refused until `Retry-After` seconds have passed. Fix the keys, then wait. At the intake: more lookups of unknown (well-formed) API keys from one address than its budget (default 10/s, burst 100, per node); keys already known are still served.',
  INTERNAL: 'A bug or an unexpected failure; the server log (pino JSON on stderr) has the details, never the key.',
  MALFORMED_KEY:
    'A key is not 32 (API) or 40 (application) lowercase hex characters, or its CRC-32 checksum (last 4) does not match: mistyped, truncated or quoted.',
  LAST_ACTIVE_API_KEY:
    'Revoking the only active API key of an organisation. Create (or roll to) another key first. Holds under concurrency on SQLite and PostgreSQL.',
  API_KEY_LIMIT_REACHED: 'The organisation already has the maximum number of API keys (50 by default). Revoke unused keys.',
  INVALID_NAME: 'A name is empty or longer than the maximum; the message gives the length.',
  API_KEY_NOT_FOUND: 'No API key with this id in your organisation.',
  APP_KEY_NOT_FOUND: 'No application key with this id in your organisation (or it is not yours, for `/current_user/…`).',
  ORG_NOT_FOUND: 'An organisation id or name that does not exist (CLI commands, or an organisation deleted while in use).',
  USER_NOT_FOUND: 'No user with this id or email in your organisation.',
  METRIC_NOT_FOUND:
    '`GET` or `PUT /api/v1/metrics/{name}` for a metric this organisation never sent (no points, no distribution, no metadata): check the name.',
  DUPLICATE_EMAIL: 'A user with this email already exists; emails are unique per deployment.',
  DUPLICATE_ORG: 'An organisation with this name already exists.',
  RESTORE_WINDOW_PASSED: 'A revoked key can be restored for 7 days; after that create a new key.',
  API_KEY_NOT_REVOKED: 'Restore was asked for a key that is active.',
  API_KEY_REVOKED: 'An operation (rename, roll) on a revoked key; restore it first.',
  LAST_ACTIVE_ADMIN:
    "Disabling or deleting the only enabled admin of an organisation (API, UI or `rekey user`). Create another admin (`rekey user create --role admin`) or enable one first. Checked inside the organisation's lock, so two admins disabling each other at once cannot both succeed.",
  CURRENT_PASSWORD_INCORRECT:
    'Changing your own password (UI *Change password*, `POST /api/v2/current_user/password`) needs your current password, and the one given is wrong.',
  PASSWORD_TOO_SHORT: 'A new password (change, admin set, `rekey user set-password --password-stdin`) is shorter than 12 characters.',
  ALREADY_INITIALISED: '`rekey init` on a data directory or database that already has a deployment; nothing was changed.',
  DATA_DIR_NOT_WRITABLE: 'The SQLite data directory (`--data`, `REKEY_DATA`, default `./data`) cannot be created or written.',
  SQLITE_DRIVER_UNAVAILABLE:
    "better-sqlite3's native module is missing or was built for another Node.js version (an install without its install script, a copied `node_modules`, a Node.js upgrade). The data directory is not the problem. Run `npm install` or `npm rebuild better-sqlite3` where rekey is installed; or run on PostgreSQL (`REKEY_DATABASE_URL`).",
  DATABASE_UNREACHABLE:
    'PostgreSQL at `REKEY_DATABASE_URL` refused the connection, rejected the credentials or timed out (the URL is shown without its password).',
  DATABASE_UNAVAILABLE:
    'The database stopped answering while the server runs (PostgreSQL restarting, down, unreachable or out of connections). Every request that needs it gets this 503 with `Retry-After`; retry (agents and `rekey rotate` do). `/healthz` answers 503 meanwhile, `/livez` 200. Nothing to do on the rekey side once the database is back.',
  DATABASE_URL_INVALID: '`REKEY_DATABASE_URL` is not a `postgres://` URL.',
  CONFIG_INVALID: 'An agent config file or environment variable has a value rekey cannot use; the message says which.',
  CONFIG_UNREADABLE: 'The config file exists but cannot be read (permissions, a directory, …).',
  CONFIG_LINE_INVALID: 'A line of `datadog.conf`/`datadog.yaml` is invalid; the message gives the line number and the fix.',
  CONFIG_NOT_FOUND: "No `--file` was given and no Datadog Agent config exists at the platform's default paths.",
  CONFIG_NOT_DATADOG: 'The file does not look like a Datadog Agent config (no `[Main]` section for v5, not a YAML mapping for v6/7).',
  CONFIG_SECRET_HANDLE: '`api_key: ENC[…]` is resolved by a secrets backend; change the secret there, or `--force` to replace the handle.',
  CONFIG_EDIT_REFUSED: '`rekey config set-api-key` would have to guess (duplicate `api_key` lines, unsupported layout); the file is unchanged.',
  CONFIG_WRITE_FAILED: 'Writing the config file (temp file, fsync, rename) failed; the original file is left in place.',
  SERVICE_MANAGER_UNKNOWN: 'No systemd, SysV init script, launchd job or Windows service was found to restart the agent; pass `--manager`.',
  AGENT_RESTART_FAILED: 'The restart command (`systemctl restart datadog-agent`, …) exited non-zero; its output is in the message.',
  AGENT_ALREADY_RUNNING: "Another rekey-agent holds the run path's pid file; stop it or use another `--run-path`.",
  AGENT_NOT_RUNNING: '`rekey-agent status` found no running agent for the run path.',
  AGENT_RUN_PATH_UNUSABLE: 'The agent cannot create its queue, pid file or status socket in the run path.',
  SERVICE_INSTALL_FAILED: '`rekey-agent install-service` could not write the unit or init script (usually: not root).',
  INVENTORY_INVALID: 'The `rekey rotate` inventory has problems; every one is listed with its line number.',
  ROTATION_IN_PROGRESS: 'A journal of an unfinished rotation exists; `--resume` it, or delete the journal to abandon it.',
  ROTATION_NOTHING_TO_RESUME: '`--resume` without an unfinished journal.',
  ROTATION_JOURNAL_INVALID:
    'The journal file is not valid JSON, not a rekey rotation journal (version 1), or names a new key it no longer holds; fix or delete it.',
  DATADOG_API_FAILED: 'The key service (rekey or Datadog) answered an error to a rotation request; the message names the request.',
  DATADOG_UNREACHABLE: 'The key service could not be reached; check `--url` / `DD_SITE` and the network.',
  ROTATION_KEY_NOT_FOUND: '`--key ID` names no active API key of the organisation.',
  TRANSPORT_FAILED:
    'Changing the key on one host failed (ssh, the command, the file edit or the restart); the message names the host and step. Other hosts continue; the old key is kept.',
  PAYLOAD_TOO_LARGE:
    'An intake body exceeds the limits (v1: 3,200,000 bytes compressed / 62,914,560 decompressed; v2: 512,000 / 5,242,880). Send smaller batches.',
  UNSUPPORTED_ENCODING: 'The intake accepts `Content-Encoding` gzip, deflate, zstd or none.',
  CORRUPT_ENCODING: 'The compressed body is truncated or corrupt.',
  INVALID_PAYLOAD: 'An intake body is not a valid series/check_run/intake payload; the message names the field.',
  INVALID_QUERY: '`GET /api/v1/query` parameters are missing or the query is outside the supported subset (`avg|sum|min|max:metric{tag:value} by {tag}`).',
  PAYLOAD_TOO_COMPLEX:
    'An intake payload asks for more work than one request may cause: more series, points, tags or distribution sketches than the caps (default 50,000 / 200,000 / 500,000 / 10,000 per payload), or a JSON body with more than 500,000 values or 16 MiB of strings and numbers. Counted while decoding; send smaller batches (docs/security.md).',
  API_KEY_QUOTA_EXCEEDED:
    'An intake request with an API key over one of the optional limits an admin set on that key (`PUT /api/v2/api_keys/{id}/limits`, `rekey key-limits set`): requests per second, points per minute (points of series payloads and values of distribution payloads, counted once decoded, so the payload that crosses the limit is still stored) or bytes per day (bodies as sent, UTC days). Checked from memory before the body is read, per server node; other keys are unaffected. Wait `Retry-After` seconds (the next second, minute or UTC day), or ask an admin to raise the limit.',
  INTAKE_RATE_LIMITED:
    'More intake requests than the per-key (default 2,000/s, burst 4,000) or per-address (default 1,000/s, burst 2,000) limit of this server node, or more refused payloads (400/413/415) from one key than 5/s (burst 50): then the key is refused before its body is read. Wait `Retry-After` seconds; rekey-agent keeps the payload and retries after `Retry-After` or its backoff, whichever is longer.',
  LOCK_FILE_UNUSABLE:
    "At start, a pid lock (the agent's `<run path>/rekey-agent.pid`, a relay spool's `recover.lock`, `rekey upstream drain`'s `drain.lock`, or such a lock's `.takeover` guard) is something no rekey process leaves there: a directory, a FIFO, a socket or a device; or a stale lock kept being taken over by another process for 5 s. Nothing was removed: if no rekey process runs on that directory, remove the entry and start again.",
  JOURNAL_FILE_UNREADABLE:
    "At start, a `*.journal` entry in the intake journal (`<data>/intake-journal/`) or the relay spool (`<data>/relay-spool/payloads/`, `delivered/`) cannot be read: a directory or FIFO with that name, no read permission, a symlink loop, or a file that cannot be renamed to claim it (a read-only directory). The path is the entry's name as it is on disk (not renamed). Such a file may hold acknowledged points: fix its type or permissions, or move it out of the directory to start without it and put it back later (see [The intake journal](operations.md#the-intake-journal-sqlite)).",
  INTAKE_STORAGE_FAILED:
    'The intake could not make a payload durable: the data directory is full (bytes or inodes), over quota, read-only or failing (EIO), or the database refused the write. Nothing of the payload was kept; the answer carries `Retry-After`, and agents keep and re-send the payload. The intake accepts again by itself once the disk has room (docs/operations.md#durability).',
  INVALID_UPSTREAM:
    '`rekey upstream set` (or the upstream API) was given a site that is neither a Datadog site name (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`…) nor an http(s) URL, a URL with credentials or a query, an unknown mode, or an empty upstream key (docs/relay.md).',
  UPSTREAM_KEY_UNREADABLE:
    "The stored upstream key does not decrypt under the deployment secret: `REKEY_SECRET` or `secret.key` changed since it was set, or the row was altered. The relay holds that organisation's payloads in its spool until the key is set again (docs/relay.md).",
  UPSTREAM_NOT_SET: '`rekey upstream show` for an organisation that has no upstream (it runs standalone).',
  UPSTREAM_ROTATION_FAILED:
    "`rekey upstream rotate` could not go on safely: the application key lists no active upstream key ending in the relay key's last 4 characters (plan), the upstream did not accept the new key (validate), a service check sent with it was refused (verify; the relay is put back on the old key), the relay's stored upstream key was changed by another command during the rotation (confirm; the old key is kept), or the new key is not listed as active (revoke; the old key is kept — never zero keys). The journal keeps the rotation resumable (docs/relay.md).",
  UPSTREAM_NODES_LAGGING:
    "`rekey upstream rotate` switched the relay to the new upstream key and a payload was accepted with it, but at least one relay node that reported recently (its last heartbeat younger than 3 of its poll intervals, REKEY_RELAY_POLL_MS, and 10 s at least) did not report the new key's version within `--settle`: it is stuck, cut off from the database, or crashed less than the window ago. The old upstream key is kept so that node's deliveries are not refused; the journal stays at `switched`. Look at the named nodes (node id = host name, process id, random suffix; logged at start as `relayNodeId`), fix or stop them, then `rekey upstream rotate --resume` waits again (docs/relay.md).",
  UPSTREAM_DRAIN_INCOMPLETE:
    '`rekey upstream drain` stopped at its `--timeout` with payloads of the drained spool still undelivered: the upstream was down or throttling, refused the upstream key (set a working one with `rekey upstream set`), or the organisation has no upstream in this deployment. What was delivered is recorded in the spool directory; run the command again to deliver the rest (docs/scaling.md).',
  RELAY_COUNTING_FAILED:
    "A key with a points-per-minute limit sent, in relay mode, a payload large enough to be counted on the relay's counting worker thread, and that thread ended before it answered (a bug or its memory bound). Nothing was accepted; the answer carries `Retry-After` and the agent sends the payload again; the next count starts a new worker (docs/relay.md).",
  RELAY_SPOOL_FULL:
    "An organisation in relay mode sent a payload while this node's spool holds its size limit (`REKEY_RELAY_SPOOL_BYTES`, default 256 MiB) of payloads not yet delivered, or while that organisation already holds its fair share of the spool and other organisations need theirs — the upstream is down, throttling, or refusing the upstream key. Nothing is dropped: the answer carries `Retry-After` and agents keep the payload (docs/relay.md).",
  ROLE_REQUIRED: 'The application key belongs to a user whose role does not allow this action (admin for key changes).',
  SCOPE_REQUIRED:
    "The application key has scopes and none of them grants this action (e.g. `api_keys_write` to create an API key); a key without scopes has its owner's role.",
  UNSCOPED_KEY_REQUIRED:
    "Resetting a user's password or changing your own, or reading or setting the relay upstream (`/api/v2/rekey/upstream`), through an application key with scopes: a password signs in with the whole role, and the upstream decides where the organization's data goes and with which Datadog key, so no scope grants these. Use an application key without scopes (of a user whose role allows it), or the web UI.",
  UNKNOWN_SCOPE: "An application key's `scopes` names a scope rekey does not know; the message lists the known ones.",
  SCOPE_ESCALATION:
    "A scoped application key tried to create a key, or change one, with scopes it does not have itself (or with no scopes, which means all of the owner's).",
  BODY_ID_MISMATCH: "A PATCH body's `data.id` differs from the id in the URL.",
  LISTEN_FAILED: '`rekey server` cannot bind the address (port in use, permission); choose another with `--host`/`--port`.',
  TLS_FILES_UNREADABLE: '`--tls-cert`/`--tls-key` cannot be read.',
  CSRF_TOKEN_INVALID: 'A web UI form was posted without its CSRF token (stale page or another site); reload the page.',
  SIGN_IN_FAILED: 'Web UI sign-in with a wrong email or password (the message does not say which).',
  USAGE: 'Bad command-line usage: a missing or invalid flag or environment variable; the message says which.',
};

/** Placeholder parameters: every property is a one-element array, which prints as its name and supports `.map`. */
const placeholders = new Proxy({}, { get: (_target, prop) => [`‹${String(prop)}›`] });

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n\s*/g, ' ');
}

export function renderErrorDocs(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error rekey reports comes from one catalogue, `src/errors.ts`. Over HTTP an error is',
    '`{"errors":["<message>"]}` with the status below; a CLI command prints `rekey: <message>` on',
    'stderr and exits with the exit code below (0 success, 1 operation failed, 2 bad usage or bad',
    'input). Messages never contain a key, at most its last 4 characters. Codes are never reused.',
    '',
    'Generated by `node --import tsx scripts/gen-error-docs.ts` from the catalogue; `‹name›` marks a',
    'value filled in at the time of the error.',
    '',
    '| code | HTTP | exit | message | when, and what to do |',
    '|---|---|---|---|---|',
  ];
  for (const [code, entry] of Object.entries(errorCatalogue) as Array<[ErrorCode, ErrorSpec<unknown>]>) {
    const message = String(entry.message(placeholders));
    lines.push(`| \`${code}\` | ${entry.status} | ${entry.exitCode} | ${cell(message)} | ${cell(explanations[code] ?? '')} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderErrorDocs();
  if (process.argv.includes('--check')) {
    const current = readFileSync(ERROR_DOCS_FILE, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/errors.md is out of date: run node --import tsx scripts/gen-error-docs.ts\n');
      process.exit(1);
    }
  } else {
    writeFileSync(ERROR_DOCS_FILE, text);
    process.stderr.write(`wrote ${ERROR_DOCS_FILE}\n`);
  }
}
