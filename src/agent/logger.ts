/**
 * The agent's logger: pino JSON lines on stderr (journald and init scripts capture it).
 * Nothing logged ever holds a key: callers log a key's last 4 characters at most, and
 * `redact` censors the header path as a second line of defence.
 */
import pino from 'pino';

export type Logger = Pick<pino.Logger, 'info' | 'warn' | 'error' | 'debug'>;

export function createAgentLogger(level = process.env.REKEY_AGENT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'rekey-agent',
      level,
      redact: { paths: ['apiKey', 'headers["dd-api-key"]', 'headers["DD-API-KEY"]'], censor: '[REDACTED]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
