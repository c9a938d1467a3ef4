/**
 * `rekey server`: the management API, the intake and the web UI on one port.
 * See src/server/start-server.ts. Flags win over the environment (REKEY_DATA, REKEY_HOST,
 * REKEY_PORT, REKEY_DATABASE_URL); defaults ./data, 127.0.0.1, 8080.
 */
import type { Command } from 'commander';
import { rekeyError } from '../errors.js';

interface ServerFlags {
  data?: string;
  host?: string;
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
  logLevel?: string;
  trustProxy?: string;
  durability?: string;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('Run the rekey server (management API, intake, web UI); initialises an empty store on first start')
    .option('--data <dir>', 'data directory for embedded SQLite and the deployment secret (env REKEY_DATA, default ./data)')
    .option('--host <host>', `address to listen on (env REKEY_HOST, default ${DEFAULT_HOST})`)
    .option('--port <port>', `port to listen on, 0 for any free port (env REKEY_PORT, default ${DEFAULT_PORT})`)
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option(
      '--trust-proxy <hops|addresses>',
      'behind reverse proxies: take the client address from X-Forwarded-For, believing only the given number of proxies (e.g. 1) or the proxies at these addresses/CIDRs (e.g. 10.0.0.0/8,192.168.1.7); default: believe nobody',
    )
    .option('--log-level <level>', 'pino log level: fatal, error, warn, info, debug, trace', 'info')
    .option('--json', 'print the first-start credentials as one JSON object (as rekey init --json)')
    .option(
      '--durability <policy>',
      'when a 202 is sent: process (survives a crash of rekey) or power (also a power cut: fsync before the 202) (env REKEY_DURABILITY, default process)',
    )
    .addHelpText(
      'after',
      '\nPostgreSQL instead of SQLite: REKEY_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB.\nWith SQLite, accepted points are journaled in <data>/intake-journal and saved into the database\nevery REKEY_INTAKE_SAVE_INTERVAL_MS (default 1000). --durability: docs/operations.md#durability.\nLogs: pino JSON on stderr, keys redacted. Stops gracefully on SIGTERM/SIGINT.',
    )
    .action(async (flags: ServerFlags) => {
      const env = process.env;
      const host = flags.host ?? (env.REKEY_HOST || DEFAULT_HOST);
      const portText = flags.port ?? (env.REKEY_PORT || String(DEFAULT_PORT));
      const port = Number(portText);
      if (!/^\d+$/.test(portText) || port > 65535) {
        throw rekeyError('USAGE', { detail: `port "${portText}" is not a port number (0-65535); fix --port or REKEY_PORT` });
      }
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
        throw rekeyError('USAGE', { detail: '--tls-cert and --tls-key go together; give both or neither' });
      }
      const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
      if (flags.logLevel !== undefined && !levels.includes(flags.logLevel)) {
        throw rekeyError('USAGE', { detail: `--log-level must be one of ${levels.join(', ')}` });
      }
      const durability = flags.durability ?? (env.REKEY_DURABILITY || 'process');
      if (durability !== 'process' && durability !== 'power') {
        throw rekeyError('USAGE', { detail: `durability "${durability}" must be process or power; fix --durability or REKEY_DURABILITY` });
      }
      const saveText = env.REKEY_INTAKE_SAVE_INTERVAL_MS;
      if (saveText !== undefined && saveText !== '' && !(/^\d+$/.test(saveText) && Number(saveText) >= 1 && Number(saveText) <= 3_600_000)) {
        throw rekeyError('USAGE', { detail: `REKEY_INTAKE_SAVE_INTERVAL_MS "${saveText}" must be a whole number of milliseconds from 1 to 3600000` });
      }
      const [{ runServerUntilSignal }, { resolveStoreLocation }, { bootstrapDeployment }, { parseTrustProxy }] = await Promise.all([
        import('../server/start-server.js'),
        import('../store/open-store.js'),
        import('../store/bootstrap.js'),
        import('../server/app.js'),
      ]);
      const trustProxy = flags.trustProxy === undefined ? undefined : parseTrustProxy(flags.trustProxy);
      await runServerUntilSignal({
        location: resolveStoreLocation(flags.data === undefined ? {} : { data: flags.data }),
        host,
        port,
        bootstrap: (store, hasher) => bootstrapDeployment(store, hasher),
        ...(flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
        ...(flags.json ? { json: true } : {}),
        ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
        ...(trustProxy === undefined ? {} : { trustProxy }),
        ...(saveText ? { intakeSaveIntervalMs: Number(saveText) } : {}),
        durability,
      });
    });
}
