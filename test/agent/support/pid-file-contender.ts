/**
 * One contender for the agent's pid file, as a process of its own (the lock is between
 * processes): `node --import tsx pid-file-contender.ts <run path> rekey-agent`. The trailing
 * `rekey-agent` puts the name in its command line, so `isAgentRunning` takes it for an agent.
 * Prints `ready` once loaded, waits for a line on stdin (the starting gun, given to every contender at once), calls
 * `PidFile.acquire`, prints `acquired` or the error's message, then holds until stdin ends.
 */
import { PidFile } from '../../../src/agent/pid-file.js';

const runPath = process.argv[2]!;
process.stdin.once('data', () => {
  PidFile.acquire(runPath).then(
    () => process.stdout.write('acquired\n'),
    (error: Error) => process.stdout.write(`refused: ${error.message}\n`),
  );
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write('ready\n');
