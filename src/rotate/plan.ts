/**
 * What a rotation will do, computed before anything changes (`--dry-run` prints just this):
 * which keys are replaced, which hosts the inventory lists, and which hosts used an old key
 * recently but are NOT in the inventory — those would break when the old key is revoked.
 *
 * Which keys are replaced, when `--key` is not given:
 * - with per-key host usage (rekey): the active keys that an inventory host used within the
 *   recent window — the keys this fleet actually runs on; if no inventory host was seen at all
 *   (agents not reporting yet), every active key;
 * - without it (Datadog has no per-key host usage): every active key.
 * Keys created by this rotation are never replaced. `--dry-run` first shows the choice.
 */
import { rekeyError } from '../errors.js';
import type { ApiKey, DatadogClient, KeyHostUsage } from './datadog-client.js';
import type { Inventory } from './inventory.js';

export interface UnknownHost {
  host: string;
  keyId: string;
  keyLast4: string;
  lastSeen: number;
}

export interface Plan {
  oldKeys: ApiKey[];
  keySelection: 'explicit' | 'used-by-inventory' | 'all-active';
  hosts: Array<{ name: string; transport: string }>;
  /** Whether the server has per-key host usage (the rekey extension). */
  hostUsage: boolean;
  /** Old-key id → hosts that used it within the window. */
  recentUsers: Record<string, KeyHostUsage[]>;
  unknownHosts: UnknownHost[];
  /** Inventory hosts not seen on any old key within the window (agent down, wrong name?). */
  unseenInventoryHosts: string[];
  recentWindowMs: number;
}

export interface PlanOptions {
  keyIds: string[] | undefined;
  /** Ids never to replace (the key this rotation created). */
  exclude: string[];
  recentWindowMs: number;
  now?: number;
}

export async function computePlan(client: DatadogClient, inventory: Inventory, options: PlanOptions): Promise<Plan> {
  const now = options.now ?? Date.now();
  const since = now - options.recentWindowMs;
  const all = await client.listApiKeys();
  const active = all.filter((key) => key.active && !options.exclude.includes(key.id));
  const inventoryNames = new Set(inventory.hosts.map((host) => host.name));

  // Per-key host usage for every candidate key (one request each; an org has at most 50 keys).
  const usage = new Map<string, KeyHostUsage[]>();
  let hostUsage = true;
  for (const key of active) {
    const hosts = await client.keyHosts(key.id);
    if (hosts === undefined) {
      hostUsage = false;
      break;
    }
    usage.set(
      key.id,
      hosts.filter((entry) => entry.lastSeen >= since),
    );
  }
  if (!hostUsage) usage.clear();

  let oldKeys: ApiKey[];
  let keySelection: Plan['keySelection'];
  if (options.keyIds && options.keyIds.length > 0) {
    oldKeys = options.keyIds.map((id) => {
      const key = active.find((candidate) => candidate.id === id);
      if (!key) throw rekeyError('ROTATION_KEY_NOT_FOUND', { id });
      return key;
    });
    keySelection = 'explicit';
  } else {
    const used = active.filter((key) => (usage.get(key.id) ?? []).some((entry) => inventoryNames.has(entry.host)));
    if (used.length > 0) {
      oldKeys = used;
      keySelection = 'used-by-inventory';
    } else {
      oldKeys = active;
      keySelection = 'all-active';
    }
  }

  const recentUsers: Record<string, KeyHostUsage[]> = {};
  const unknownHosts: UnknownHost[] = [];
  const seenInventory = new Set<string>();
  for (const key of oldKeys) {
    const users = usage.get(key.id) ?? [];
    recentUsers[key.id] = users;
    for (const entry of users) {
      if (inventoryNames.has(entry.host)) seenInventory.add(entry.host);
      else unknownHosts.push({ host: entry.host, keyId: key.id, keyLast4: key.last4, lastSeen: entry.lastSeen });
    }
  }
  unknownHosts.sort((a, b) => a.host.localeCompare(b.host));
  return {
    oldKeys,
    keySelection,
    hosts: inventory.hosts.map((host) => ({ name: host.name, transport: host.transport })),
    hostUsage,
    recentUsers,
    unknownHosts,
    unseenInventoryHosts: hostUsage ? inventory.hosts.map((host) => host.name).filter((name) => !seenInventory.has(name)) : [],
    recentWindowMs: options.recentWindowMs,
  };
}
