#!/usr/bin/env -S node --max-semi-space-size=2 --optimize-for-size --max-opt=1
/**
 * `rekey-agent`: collects host metrics, runs a DogStatsD listener and ships to the intake
 * with the API key from a Datadog config file.
 *
 * The shebang carries the agent's Node flags (node-flags.ts, which says why each one), so the
 * bin runs the way the installed services do. `env -S` needs GNU coreutils ≥ 8.30, macOS or
 * FreeBSD; npm's Windows shims read it too. BusyBox's env (Alpine) has no `-S`: there, run
 * `node <the flags> …/dist/agent/main.js` (docs/operations.md).
 */
import { Command } from 'commander';
import { runCli } from '../cli/run-cli.js';
import { VERSION } from '../version.js';
import { registerInstallServiceCommand } from './install-service-command.js';
import { registerRunCommand } from './run-command.js';
import { registerStatusCommand } from './status-command.js';

const program = new Command('rekey-agent')
  .description('Collects host metrics and DogStatsD, ships them to a rekey or Datadog intake without losing data')
  .version(VERSION);

const registrars: Array<(program: Command) => void> = [
  // (agent commands register here)
  registerRunCommand,
  registerStatusCommand,
  registerInstallServiceCommand,
];
for (const register of registrars) register(program);

await runCli(program, process.argv);
