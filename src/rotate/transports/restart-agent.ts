/**
 * Restarting (or reloading) an agent the way its host runs it: SIGHUP to rekey-agent through
 * its pid file, `systemctl restart`, an init script, or the user's own command.
 * `restartLocally` does it on this machine; `restartShellCommand` says it in POSIX sh for a
 * remote host.
 */
import { readFileSync } from 'node:fs';
import type { RestartMethod } from '../inventory.js';
import { failureDetail, runProcess } from './run-process.js';

const RESTART_TIMEOUT_MS = 120_000;

/** Restarts the agent on this machine; throws an Error saying what failed. */
export async function restartLocally(method: RestartMethod): Promise<void> {
  switch (method.kind) {
    case 'none':
      return;
    case 'sighup': {
      let pid: number;
      try {
        pid = Number.parseInt(readFileSync(method.pidFile, 'utf8').trim(), 10);
      } catch (error) {
        throw new Error(`cannot read the pid file ${method.pidFile}: ${(error as Error).message}`);
      }
      if (!Number.isInteger(pid) || pid <= 1) throw new Error(`the pid file ${method.pidFile} does not hold a process id`);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(
          code === 'ESRCH'
            ? `the agent is not running (pid ${pid} from ${method.pidFile} does not exist)`
            : `cannot signal pid ${pid}: ${(error as Error).message}`,
        );
      }
      return;
    }
    default: {
      const argv = restartArgv(method);
      const result = await runProcess(argv, { timeoutMs: RESTART_TIMEOUT_MS });
      if (result.code !== 0) throw new Error(`${argv.join(' ')}: ${failureDetail(result)}`);
    }
  }
}

function restartArgv(method: Exclude<RestartMethod, { kind: 'none' } | { kind: 'sighup' }>): string[] {
  switch (method.kind) {
    case 'systemd':
      return ['systemctl', 'restart', method.unit];
    case 'sysv':
      return [`/etc/init.d/${method.name}`, 'restart'];
    case 'command':
      return method.argv;
  }
}

/** The same restart as one POSIX sh command line (for ssh). Empty for `none`. */
export function restartShellCommand(method: RestartMethod): string {
  switch (method.kind) {
    case 'none':
      return '';
    case 'sighup':
      return `pid=$(cat ${shellQuote(method.pidFile)}) && kill -HUP "$pid"`;
    default:
      return restartArgv(method).map(shellQuote).join(' ');
  }
}

/** Quotes one word for POSIX sh. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=@%+-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
