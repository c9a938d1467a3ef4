/**
 * `rekey agent restart`: restarts the Datadog Agent (or reloads rekey-agent) on this host so
 * it picks up a new api_key. Detection and commands live in src/config/agent-restart.ts.
 */
import { Option, type Command } from 'commander';

export function registerAgentRestartCommand(program: Command): void {
  const agent = program.commands.find((c) => c.name() === 'agent') ?? program.command('agent').description('The agent on this host');
  agent
    .command('restart')
    .description("Restart the Datadog Agent the platform's way (systemd, init script, launchd, Windows service); SIGHUP for rekey-agent")
    .option('--service <name>', 'service name (default datadog-agent; DatadogAgent on Windows; com.datadoghq.agent on macOS; rekey-agent reloads on SIGHUP)')
    .addOption(new Option('--manager <manager>', 'skip detection').choices(['systemd', 'sysv', 'launchd', 'windows']))
    .option('--pid-file <path>', "rekey-agent's pid file: send it SIGHUP")
    .option('--dry-run', 'print the command and run nothing')
    .action(async (options: { service?: string; manager?: 'systemd' | 'sysv' | 'launchd' | 'windows'; pidFile?: string; dryRun?: boolean }) => {
      const { describePlan, executeRestart, planRestart, systemProbe, REKEY_AGENT_SERVICE } = await import('../config/agent-restart.js');
      if (options.service === REKEY_AGENT_SERVICE && options.pidFile === undefined) {
        // rekey-agent's own pid file in its default run path (REKEY_AGENT_RUN_PATH, /var/lib/rekey-agent, …).
        const { existsSync } = await import('node:fs');
        const { resolveRunPath } = await import('../agent/run-path.js');
        const { pidFilePath } = await import('../agent/pid-file.js');
        const candidate = pidFilePath(resolveRunPath(undefined));
        if (existsSync(candidate)) options.pidFile = candidate;
      }
      const plan = planRestart(options, systemProbe());
      const commands = describePlan(plan);
      if (options.dryRun) {
        process.stdout.write(`${commands.join('\n')}\n`);
        return;
      }
      executeRestart(plan);
      process.stdout.write(plan.kind === 'signal' ? `sent SIGHUP to rekey-agent (pid ${plan.pid})\n` : `restarted: ${commands.join(' && ')}\n`);
    });
}
