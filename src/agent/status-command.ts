/**
 * `rekey-agent status [--run-path DIR] [--json]`: asks the running agent (127.0.0.1, port
 * from `<run path>/status.port`) for its status. Exit 1 when no agent answers.
 */
import type { Command } from 'commander';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("Show the running agent's key (last 4), whether the intake accepts it, queue and DogStatsD counters")
    .option('--run-path <dir>', 'the run path the agent was started with')
    .option('--json', 'print the status as one JSON object')
    .action(async (options: { runPath?: string; json?: boolean }) => {
      const { resolveRunPath } = await import('./run-path.js');
      const { fetchAgentStatus, formatAgentStatus } = await import('./agent-status-client.js');
      const status = await fetchAgentStatus(resolveRunPath(options.runPath));
      process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : formatAgentStatus(status));
    });
}
