/**
 * How rotation reaches one host. Each transport can put a key into the host's agent config
 * (keeping a backup of the previous config), restart or reload the agent, and put the backup
 * back. Implementations: local files, ssh, a user's command (Ansible, Chef, Puppet …).
 */
import type { InventoryHost } from '../inventory.js';

export interface Transport {
  /**
   * Writes `key` as the host's api_key. The previous config is saved first under a name
   * derived from `backupTag` (the rotation id); if that backup already exists (a resumed
   * rotation) it is kept, so it always holds the config from before the rotation.
   * Returns where the backup is, or undefined when the transport keeps none (a command).
   */
  deploy(key: string, backupTag: string): Promise<{ backup: string | undefined }>;
  /** Restarts or reloads the agent so it uses the config now on disk. */
  restart(): Promise<void>;
  /** Puts the pre-rotation config back (the caller restarts the agent after). */
  rollback(backup: string | undefined): Promise<void>;
  /** The last 4 characters of the api_key now in the host's config, when the transport can see it. */
  configuredLast4(): Promise<string | undefined>;
}

export type TransportFactory = (host: InventoryHost) => Transport;
