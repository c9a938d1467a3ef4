/**
 * `rekey-agent install-service [--prefix DIR] [--manager auto|systemd|sysv|all] [--dry-run]`:
 * installs the systemd unit (`<prefix>/etc/systemd/system/rekey-agent.service`) and/or the
 * SysV init script (`<prefix>/etc/init.d/rekey-agent`) from the package's `packaging/`.
 */
import { Command, Option } from 'commander';

export function registerInstallServiceCommand(program: Command): void {
  program
    .command('install-service')
    .description('Install the systemd unit and/or the SysV init script for rekey-agent')
    .option('--prefix <dir>', 'install under this root instead of / (packaging, tests)', '/')
    .addOption(new Option('--manager <kind>', 'which service manager').choices(['auto', 'systemd', 'sysv', 'all']).default('auto'))
    .option('--config <file>', 'the config file the service runs with', '/etc/datadog-agent/datadog.yaml')
    .option('--run-path <dir>', 'the run path (queue, pid file) the service uses; default <prefix>/var/lib/rekey-agent')
    .option('--log-file <file>', 'where the init script appends the agent output; default <prefix>/var/log/rekey-agent.log')
    .option('--dry-run', 'print what would be written, change nothing')
    .option('--json', 'print the result as JSON')
    .action(
      async (options: {
        prefix: string;
        manager: 'auto' | 'systemd' | 'sysv' | 'all';
        config: string;
        runPath?: string;
        logFile?: string;
        dryRun?: boolean;
        json?: boolean;
      }) => {
        const { installService } = await import('./install-service.js');
        const result = await installService({
          prefix: options.prefix,
          manager: options.manager,
          config: options.config,
          ...(options.runPath !== undefined ? { runPath: options.runPath } : {}),
          ...(options.logFile !== undefined ? { logFile: options.logFile } : {}),
          dryRun: options.dryRun ?? false,
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(result)}\n`);
          return;
        }
        for (const file of result.files) {
          process.stdout.write(`${options.dryRun ? 'would write' : 'wrote'} ${file.path}\n`);
          if (options.dryRun) process.stdout.write(`${file.content.replace(/^/gm, '  | ')}\n`);
        }
        for (const hint of result.nextSteps) process.stdout.write(`next: ${hint}\n`);
      },
    );
}
