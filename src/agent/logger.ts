/**
 * The agent's logger: one JSON object per line on stderr (journald and the init script's log
 * file capture it), in pino's field layout (`level`, `time`, `msg`).
 *
 * Not pino itself: pino adds ~9 MB of resident memory, and the agent's budget is 60 MB
 * (bench/agent-resources.ts). The agent logs a few lines an hour, synchronously.
 * Nothing logged ever holds a key: callers log a key's last 4 characters at most.
 */
import { writeSync } from 'node:fs';

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type LevelName = keyof typeof LEVELS;

export function createAgentLogger(level: string = process.env.REKEY_AGENT_LOG_LEVEL ?? 'info', fd = 2): Logger {
  const threshold = LEVELS[level as LevelName] ?? LEVELS.info;
  const write = (name: LevelName) => (fields: object, message: string) => {
    if (LEVELS[name] < threshold) return;
    const line = JSON.stringify({ level: LEVELS[name], time: Date.now(), pid: process.pid, name: 'rekey-agent', ...fields, msg: message });
    try {
      writeSync(fd, `${line}\n`);
    } catch {
      // A closed stderr (daemonised without a log) must not stop the agent.
    }
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
