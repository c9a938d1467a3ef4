/**
 * `rekey-agent run --config FILE [--flush-interval S] [--run-path DIR]`: runs the agent in
 * the foreground until SIGTERM/SIGINT (flush, bounded delivery, exit 0); SIGHUP re-reads the
 * config. The implementation is imported lazily so `status` stays light.
 */
import { Command, InvalidArgumentError } from 'commander';

function seconds(value: string): number {
  const n = Number(value);
  // At least 1 s: host metrics are timestamped in whole seconds, and two flushes in one
  // second would send two different values for one (metric, host, tags, timestamp).
  if (!Number.isFinite(n) || n < 1 || n > 3600) throw new InvalidArgumentError('give a number of seconds from 1 to 3600');
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('give a port from 0 to 65535 (0 = any free port)');
  return n;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run the agent: host metrics, DogStatsD, on-disk queue, delivery that survives key changes')
    .option('-c, --config <file>', 'datadog.conf (v5) or datadog.yaml (v6/7); default: the platform paths, else DD_* variables')
    .option('--flush-interval <seconds>', 'collect and queue every N seconds', seconds, 15)
    .option('--run-path <dir>', 'queue, pid file and status port (default /var/lib/rekey-agent as root)')
    .option('--dogstatsd-port <port>', 'override dogstatsd_port (0 = any free port)', port)
    .action(async (options: { config?: string; flushInterval: number; runPath?: string; dogstatsdPort?: number }) => {
      const { Agent } = await import('./agent.js');
      const { createAgentLogger } = await import('./logger.js');
      const { resolveRunPath } = await import('./run-path.js');
      const logger = createAgentLogger();
      const shutdownMs = Number(process.env.REKEY_AGENT_SHUTDOWN_MS);
      const agent = await Agent.start({
        ...(options.config !== undefined ? { configFile: options.config } : {}),
        runPath: resolveRunPath(options.runPath),
        flushIntervalSeconds: options.flushInterval,
        logger,
        ...(options.dogstatsdPort !== undefined ? { dogstatsdPort: options.dogstatsdPort } : {}),
        ...(Number.isFinite(shutdownMs) && shutdownMs >= 0 ? { shutdownDeliveryMs: shutdownMs } : {}),
      });
      process.on('SIGHUP', () => agent.reload('SIGHUP'));
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'stopping: queueing the current buckets and delivering what can be delivered');
          agent.stop().then(resolve, (error: unknown) => {
            logger.error({ error: (error as Error).message }, 'error while stopping');
            resolve();
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      process.exit(0);
    });
}
