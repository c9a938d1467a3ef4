#!/usr/bin/env node
/**
 * `rekey`: the server, the bootstrap and admin commands, the config tool and the rotation.
 * Each command registers itself from its own file; its implementation is imported lazily
 * so `rekey config …` does not load the server.
 */
import { Command } from 'commander';
import { runCli } from './run-cli.js';
import { VERSION } from '../version.js';
import { registerAgentRestartCommand } from './agent-restart-command.js';
import { registerConfigCommand } from './config-command.js';
import { registerInitCommand } from './init-command.js';
import { registerKeyLimitsCommand } from './key-limits-command.js';
import { registerOrgCommand } from './org-command.js';
import { registerRotateCommand } from './rotate-command.js';
import { registerServerCommand } from './server-command.js';
import { registerSnippetCommand } from './snippet-command.js';
import { registerUpstreamCommand } from './upstream-command.js';
import { registerUserCommand } from './user-command.js';

const program = new Command('rekey')
  .description('Self-hosted, Datadog-compatible API keys: key service, intake, agent config and fleet rotation')
  .version(VERSION);

// Each register* adds one command (or command group). Keep this list sorted.
const registrars: Array<(program: Command) => void> = [
  registerAgentRestartCommand,
  registerConfigCommand,
  registerInitCommand,
  registerKeyLimitsCommand,
  registerOrgCommand,
  registerRotateCommand,
  registerServerCommand,
  registerSnippetCommand,
  registerUpstreamCommand,
  registerUserCommand,
  // (commands register here)
];
for (const register of registrars) register(program);

await runCli(program, process.argv);
