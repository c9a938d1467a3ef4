/**
 * The one top-level catch for rekey's command-line programs: turns errors into exit codes
 * (0 success, 1 operation failed, 2 bad usage or bad input) and one-line messages.
 * A user error never prints a stack trace; an unexpected error (a bug) does, to stderr.
 */
import { CommanderError, type Command } from 'commander';
import { RekeyError } from '../errors.js';

export async function runCli(program: Command, argv: string[]): Promise<never> {
  // Subcommands copy their parent's settings only when they are created, and they are
  // registered before this runs: apply the override to every command in the tree, so a usage
  // error anywhere exits 2 instead of commander's own exit 1.
  forEachCommand(program, (command) => {
    command.exitOverride();
    command.configureOutput({ writeErr: (text) => process.stderr.write(text) });
  });
  try {
    await program.parseAsync(argv);
    // Commands that keep running (servers, agents) never return from parseAsync.
    process.exit(process.exitCode ?? 0);
  } catch (error) {
    process.exit(exitCodeFor(error, program.name()));
  }
}

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const child of command.commands) forEachCommand(child, visit);
}

function exitCodeFor(error: unknown, name: string): number {
  if (error instanceof CommanderError) {
    // --help and --version end with exit code 0; every other commander error is bad usage.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return 0;
    return 2;
  }
  if (error instanceof RekeyError) {
    process.stderr.write(`${name}: ${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(`${name}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}

/** Reads all of stdin as text (for keys and passwords, which never travel in argv). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
