/** The transport for an inventory host, by its `transport` field. */
import type { InventoryHost } from '../inventory.js';
import { CommandTransport } from './command-transport.js';
import { LocalTransport } from './local-transport.js';
import { SshTransport } from './ssh-transport.js';
import type { Transport } from './transport.js';

export function createTransport(host: InventoryHost): Transport {
  switch (host.transport) {
    case 'local':
      return new LocalTransport(host);
    case 'ssh':
      return new SshTransport(host);
    case 'command':
      return new CommandTransport(host);
  }
}
