/**
 * The `local` transport: the agent's config file is on this machine. The key is written with
 * the config tool's own editor (validated, byte-exact, atomic); before the first write a copy
 * of the file is kept as `<config>.rekey-rotate-<rotation id>.bak` — one name per rotation,
 * so a resumed run never overwrites it with a config that already holds the new key.
 */
import { constants, existsSync, promises as fs } from 'node:fs';
import { readFileSettings } from '../../config/agent-settings.js';
import { restoreBackup, setApiKeyInFile } from '../../config/config-file-editor.js';
import type { LocalHost } from '../inventory.js';
import { restartLocally } from './restart-agent.js';
import type { Transport } from './transport.js';

export class LocalTransport implements Transport {
  constructor(private readonly host: LocalHost) {}

  async deploy(key: string, backupTag: string): Promise<{ backup: string }> {
    const backup = backupPathFor(this.host.config, backupTag);
    if (!existsSync(backup)) await fs.copyFile(this.host.config, backup, constants.COPYFILE_EXCL);
    // The key comes straight from the server's create response, not from a person's typing,
    // and a key issued by real Datadog has no rekey checksum: check its shape only.
    await setApiKeyInFile(this.host.config, key, { backup: false, checksum: false });
    return { backup };
  }

  restart(): Promise<void> {
    return restartLocally(this.host.restart);
  }

  async rollback(backup: string | undefined): Promise<void> {
    if (backup === undefined || !existsSync(backup)) throw new Error(`no backup of ${this.host.config} to restore`);
    await restoreBackup(this.host.config, backup);
  }

  async configuredLast4(): Promise<string | undefined> {
    const settings = readFileSettings(await fs.readFile(this.host.config, 'utf8'), this.host.config);
    return settings.apiKey ? settings.apiKey.slice(-4) : undefined;
  }
}

/** The rotation's backup of `config`. */
export function backupPathFor(config: string, backupTag: string): string {
  return `${config}.rekey-rotate-${backupTag}.bak`;
}
