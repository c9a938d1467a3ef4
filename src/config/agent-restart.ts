/**
 * Restarting the agent the way its platform does it (docs/product.md §4), so a new api_key is
 * picked up: systemd, a SysV init script, launchd or the Windows service manager; rekey-agent
 * reloads its config on SIGHUP instead. Detection is a pure function of an injectable probe,
 * so tests choose the platform; `--dry-run` prints the commands without running them.
 *
 * @example
 *   const plan = planRestart({ service: 'datadog-agent' }, systemProbe());
 *   plan.commands; // [['systemctl', 'restart', 'datadog-agent']]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rekeyError } from '../errors.js';

export type ServiceManager = 'systemd' | 'sysv' | 'launchd' | 'windows';
export const SERVICE_MANAGERS: readonly ServiceManager[] = ['systemd', 'sysv', 'launchd', 'windows'];

/** What detection looks at; `systemProbe()` reads the real host. */
export interface HostProbe {
  platform: NodeJS.Platform;
  exists(path: string): boolean;
}

export function systemProbe(): HostProbe {
  return { platform: process.platform, exists: existsSync };
}

export interface RestartRequest {
  /** Service name; default `datadog-agent` (`DatadogAgent` on Windows, `com.datadoghq.agent` on macOS). */
  service?: string;
  /** Skip detection. */
  manager?: ServiceManager;
  /** rekey-agent's pid file: send it SIGHUP. */
  pidFile?: string;
}

export type RestartPlan =
  { kind: 'commands'; manager: ServiceManager; commands: string[][] } | { kind: 'signal'; pid: number; signal: 'SIGHUP'; pidFile: string };

export const REKEY_AGENT_SERVICE = 'rekey-agent';

/** Which service manager runs services on this host, or null. */
export function detectServiceManager(probe: HostProbe, service = 'datadog-agent'): ServiceManager | null {
  if (probe.platform === 'win32') return 'windows';
  if (probe.platform === 'darwin') return 'launchd';
  // systemd's documented test for "booted with systemd" (sd_booted).
  if (probe.exists('/run/systemd/system')) return 'systemd';
  if (probe.exists(`/etc/init.d/${service}`)) return 'sysv';
  return null;
}

export function planRestart(request: RestartRequest, probe: HostProbe): RestartPlan {
  const rekeyAgent = request.service === REKEY_AGENT_SERVICE || request.pidFile !== undefined;
  if (rekeyAgent && request.pidFile !== undefined) {
    return { kind: 'signal', pid: readPid(request.pidFile), signal: 'SIGHUP', pidFile: request.pidFile };
  }
  const manager = request.manager ?? detectServiceManager(probe, request.service);
  if (manager === null) throw rekeyError('SERVICE_MANAGER_UNKNOWN', { platform: probe.platform });
  if (rekeyAgent) {
    // rekey-agent reloads on SIGHUP: ask the service manager to deliver it.
    if (manager === 'systemd') return { kind: 'commands', manager, commands: [['systemctl', 'kill', '--signal=HUP', REKEY_AGENT_SERVICE]] };
    throw rekeyError('USAGE', { detail: `to reload rekey-agent under ${manager}, give its --pid-file` });
  }
  switch (manager) {
    case 'systemd':
      return { kind: 'commands', manager, commands: [['systemctl', 'restart', request.service ?? 'datadog-agent']] };
    case 'sysv':
      return { kind: 'commands', manager, commands: [[`/etc/init.d/${request.service ?? 'datadog-agent'}`, 'restart']] };
    case 'launchd': {
      const label = request.service ?? 'com.datadoghq.agent';
      return {
        kind: 'commands',
        manager,
        commands: [
          ['launchctl', 'stop', label],
          ['launchctl', 'start', label],
        ],
      };
    }
    case 'windows': {
      const name = request.service ?? 'DatadogAgent';
      // Restart-Service waits for the stop, unlike `sc stop` which returns at once.
      return {
        kind: 'commands',
        manager,
        commands: [['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', `Restart-Service -Name '${name.replace(/'/g, "''")}' -Force`]],
      };
    }
  }
}

/** Runs a plan. `run` is injectable for tests; the default waits for each command (2 min cap). */
export function executeRestart(
  plan: RestartPlan,
  run: (command: string[]) => { status: number | null; stderr: string } = runCommand,
  kill: (pid: number, signal: NodeJS.Signals) => void = process.kill,
): void {
  if (plan.kind === 'signal') {
    try {
      kill(plan.pid, plan.signal);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ESRCH' ? `no process ${plan.pid} (stale pid file ${plan.pidFile}?)` : (error as Error).message;
      throw rekeyError('AGENT_RESTART_FAILED', { command: `kill -HUP ${plan.pid}`, reason }, { cause: error });
    }
    return;
  }
  for (const command of plan.commands) {
    const result = run(command);
    if (result.status !== 0) {
      throw rekeyError('AGENT_RESTART_FAILED', {
        command: command.join(' '),
        reason: result.stderr.trim().split('\n').pop() || `exit status ${result.status}`,
      });
    }
  }
}

/** A plan as shell text, for --dry-run. */
export function describePlan(plan: RestartPlan): string[] {
  if (plan.kind === 'signal') return [`kill -HUP ${plan.pid}   # rekey-agent from ${plan.pidFile}`];
  return plan.commands.map((command) => command.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, "'\\''")}'`)).join(' '));
}

function runCommand(command: string[]): { status: number | null; stderr: string } {
  const [file, ...args] = command;
  const result = spawnSync(file!, args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'inherit', 'pipe'] });
  if (result.error) return { status: null, stderr: result.error.message };
  return { status: result.status, stderr: result.stderr ?? '' };
}

function readPid(pidFile: string): number {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch (error) {
    throw rekeyError('CONFIG_UNREADABLE', { file: pidFile, reason: (error as Error).message }, { cause: error });
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) {
    throw rekeyError('USAGE', { detail: `${pidFile} does not hold a process id` });
  }
  return pid;
}
