/**
 * Installs rekey-agent's service definitions from the package's `packaging/` folder,
 * filling in the command that runs this very agent (node + its main file, absolute), the
 * config file, the run path and the log file.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../config/atomic-write.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rekeyError } from '../errors.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';

export interface InstallServiceOptions {
  prefix: string;
  manager: 'auto' | 'systemd' | 'sysv' | 'all';
  config: string;
  runPath?: string;
  logFile?: string;
  dryRun: boolean;
}

export interface InstalledFile {
  path: string;
  mode: number;
  content: string;
}

const packagingDir = fileURLToPath(new URL('../../packaging/', import.meta.url));

/**
 * `/usr/bin/node --max-semi-space-size=2 … /usr/lib/node_modules/rekey/dist/agent/main.js`,
 * shell-quoted: the agent's Node flags (node-flags.ts), as the bin's shebang has them.
 */
export function agentCommandLine(): string {
  const main = fileURLToPath(new URL(`./main.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const argv = [process.execPath, ...AGENT_NODE_FLAGS];
  // Running from source (tsx): the service must load tsx too, by absolute path.
  if (main.endsWith('.ts')) argv.push('--import', import.meta.resolve('tsx'));
  argv.push(main);
  return argv.map(shellQuote).join(' ');
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export async function installService(options: InstallServiceOptions): Promise<{ files: InstalledFile[]; nextSteps: string[] }> {
  const prefix = resolve(options.prefix);
  const under = (path: string) => join(prefix, path);
  let manager = options.manager;
  if (manager === 'auto') manager = existsSync('/run/systemd/system') ? 'systemd' : 'sysv';
  const values: Record<string, string> = {
    AGENT_COMMAND: agentCommandLine(),
    CONFIG: resolve(options.config),
    RUN_PATH: resolve(options.runPath ?? under('var/lib/rekey-agent')),
    LOG_FILE: resolve(options.logFile ?? under('var/log/rekey-agent.log')),
    DEFAULTS_FILE: under('etc/default/rekey-agent'),
  };
  const files: InstalledFile[] = [];
  const nextSteps: string[] = [];
  if (manager === 'systemd' || manager === 'all') {
    files.push({
      path: under('etc/systemd/system/rekey-agent.service'),
      mode: 0o644,
      content: fill(await readFile(join(packagingDir, 'systemd/rekey-agent.service'), 'utf8'), values),
    });
    nextSteps.push('systemctl daemon-reload && systemctl enable --now rekey-agent');
  }
  if (manager === 'sysv' || manager === 'all') {
    files.push({
      path: under('etc/init.d/rekey-agent'),
      mode: 0o755,
      content: fill(await readFile(join(packagingDir, 'init.d/rekey-agent'), 'utf8'), values),
    });
    nextSteps.push(`${under('etc/init.d/rekey-agent')} start   (update-rc.d rekey-agent defaults / chkconfig --add rekey-agent to start at boot)`);
  }
  if (!options.dryRun) {
    for (const file of files) {
      try {
        await mkdir(dirname(file.path), { recursive: true });
        await writeFileAtomic(file.path, file.content, { mode: file.mode });
      } catch (error) {
        throw rekeyError('SERVICE_INSTALL_FAILED', { target: file.path, reason: (error as Error).message }, { cause: error });
      }
    }
  }
  return { files, nextSteps };
}

/** Replaces `@NAME@`; paths with quotes, `$` or backquotes are refused (they go into shell lines). */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole;
    if (name !== 'AGENT_COMMAND' && /["'`$\\\s]/.test(value)) {
      throw rekeyError('SERVICE_INSTALL_FAILED', { target: value, reason: 'the path contains spaces, quotes, $ or backslashes; use a plain path' });
    }
    return value;
  });
}
