#!/usr/bin/env node
/**
 * `rekey-agent`: collects host metrics, runs a DogStatsD listener and ships to the intake
 * with the API key from a Datadog config file.
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
