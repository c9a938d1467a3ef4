/**
 * Where the agent keeps its queue, pid file and status port: `--run-path`, else
 * `REKEY_AGENT_RUN_PATH`, else `/var/lib/rekey-agent` for root (persistent, unlike the tmpfs
 * /var/run, so a queue survives a reboot) and `~/.local/state/rekey-agent` for other users.
 */
import os from 'node:os';
import { join, resolve } from 'node:path';

export function resolveRunPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return resolve(option);
  if (env.REKEY_AGENT_RUN_PATH) return resolve(env.REKEY_AGENT_RUN_PATH);
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/rekey-agent';
  return join(env.XDG_STATE_HOME ?? join(os.homedir(), '.local', 'state'), 'rekey-agent');
}
